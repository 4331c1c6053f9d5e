"""The Polars backend: the same audit layers (mcrc.cohort.logic) spelled as Polars expressions.

Polars keeps booleans bit-packed and its AND/OR/NOT/IN on nulls follow Kleene logic, like SQL,
so the plan runs unchanged and about an order of magnitude faster than DuckDB on the hundreds of
predicates of the knowledge base. The frame arrives as Arrow (no copy) from the reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import polars as pl

from mcrc.cohort.logic import (
    DONE_COLUMNS,
    GROUP_KEYS,
    SITE_FACTS,
    Layers,
    build_layers,
    output_columns,
    status_label,
    totals,
)
from mcrc.cohort.plan import Plan
from mcrc.cohort.schema import DECISION_ID

_OPT = pl.QueryOptFlags(comm_subexpr_elim=False)


class PolarsOps:
    def col(self, name: str) -> pl.Expr:
        return pl.col(name)

    def lit(self, value: Any) -> pl.Expr:
        return pl.lit(value)

    def null(self) -> pl.Expr:
        return pl.lit(None, dtype=pl.Boolean)

    def eq(self, x, value):
        return x == pl.lit(value)

    def isin(self, x, values: Sequence[Any]):
        return x.is_in(list(values))

    def cmp(self, x, op: str, value):
        v = value if isinstance(value, pl.Expr) else pl.lit(value)
        return {"lt": x < v, "le": x <= v, "gt": x > v, "ge": x >= v, "ne": x != v}[op]

    def is_null(self, x):
        return x.is_null()

    def not_null(self, x):
        return x.is_not_null()

    def is_true(self, x):
        return x.fill_null(False)

    # all_/any_horizontal follow the same Kleene tables as & and | (checked in the tests) in one kernel
    def and_(self, xs):
        xs = list(xs)
        if len(xs) > 2:
            return pl.all_horizontal(xs)
        return reduce(lambda a, b: a & b, xs) if xs else pl.lit(True)

    def or_(self, xs):
        xs = list(xs)
        if len(xs) > 2:
            return pl.any_horizontal(xs)
        return reduce(lambda a, b: a | b, xs) if xs else pl.lit(False)

    def not_(self, x):
        return ~x

    def case(self, whens, default=None):
        (cond, value), *rest = whens
        node = pl.when(cond).then(value)
        for cond, value in rest:
            node = node.when(cond).then(value)
        return node.otherwise(default if default is not None else pl.lit(None))

    def join(self, parts):
        if not parts:
            return pl.lit("")
        items = [pl.when(cond).then(pl.lit(label)) for cond, label in parts]
        return pl.concat_str(items, separator=",", ignore_nulls=True).fill_null("")

    def count_true(self, xs):
        return pl.sum_horizontal([x.fill_null(False).cast(pl.Int32) for x in xs])


def _with_layers(lf: pl.LazyFrame, layers: Layers) -> pl.LazyFrame:
    for layer in layers.layers:
        lf = lf.with_columns([e.alias(name) for name, e in layer])
    return lf


def summary_columns(plan: Plan) -> list[str]:
    """The columns the concordance table reads."""
    return list(dict.fromkeys([*plan.facts, *SITE_FACTS, *DONE_COLUMNS, "centre", "decision_date"]))


def _source(df: pl.DataFrame) -> pl.LazyFrame:
    return df.lazy().with_columns(pl.col("decision_date").dt.year().cast(pl.Int64).alias("year"))


_LAYERS: dict[tuple, Layers] = {}


def _layers(plan: Plan) -> Layers:
    """Polars expressions are immutable, so the layers are built once per knowledge base version."""
    key = (plan.kb_version, plan.show_evidence)
    if key not in _LAYERS:
        _LAYERS[key] = build_layers(plan, PolarsOps())
    return _LAYERS[key]


def decisions(df: pl.DataFrame, plan: Plan) -> pl.DataFrame:
    o = PolarsOps()
    layers = _layers(plan)
    final = [pl.col(c) for c in (DECISION_ID, "patient_id", "centre", "year", "site", *DONE_COLUMNS)]
    final += [e.alias(n) for n, e in output_columns(plan, o, layers)] + [status_label(o).alias("status")]
    return _with_layers(_source(df), layers).select(final).collect(optimizations=_OPT)


def audit(df: pl.DataFrame, plan: Plan) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(per-decision results, groups, totals) from one evaluation of the layers (a shared subplan)."""
    o = PolarsOps()
    layers = _layers(plan)
    lf = _with_layers(_source(df), layers)
    final = [pl.col(c) for c in (DECISION_ID, "patient_id", "centre", "year", "site", *DONE_COLUMNS)]
    final += [e.alias(n) for n, e in output_columns(plan, o, layers)] + [status_label(o).alias("status")]
    keys = list(GROUP_KEYS)
    out, groups, wide = pl.collect_all([
        lf.select(final),
        lf.select(keys).group_by(keys).agg(pl.len().cast(pl.Int64).alias("decisions")),
        lf.select([e.sum().cast(pl.Int64).alias(n) for n, e in totals(plan, o, layers)]),
    ], optimizations=_OPT)
    return out, groups, wide


def summary(df: pl.DataFrame, plan: Plan) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(counts by site, year, centre and status; one row of table/row/missing-fact totals)."""
    o = PolarsOps()
    layers = _layers(plan)
    lf = _with_layers(_source(df), layers)
    keys = list(GROUP_KEYS)
    wide = lf.select([e.sum().cast(pl.Int64).alias(n) for n, e in totals(plan, o, layers)])
    # narrow first: grouping the wide frame would carry every column through the hash table
    groups = lf.select(keys).group_by(keys).agg(pl.len().cast(pl.Int64).alias("decisions"))
    groups_df, wide_df = pl.collect_all([groups, wide], optimizations=_OPT)
    return groups_df, wide_df
