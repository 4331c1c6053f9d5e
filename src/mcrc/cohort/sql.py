"""Compile the audit to SQL through sqlglot's typed expression tree (no SQL text is concatenated).

One canonical query per output is built as sqlglot nodes and generated for DuckDB, Spark and
PostgreSQL. Unknown facts are SQL NULL; AND/OR/NOT/IN/= on NULL follow the same Kleene truth
tables as mcrc.logic, so each condition node maps to its SQL node one to one. Layers become CTEs
(`SELECT *, <new columns> FROM <previous layer>`) so each distinct predicate is computed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from mcrc.cohort.logic import (
    DONE_COLUMNS,
    GROUP_KEYS,
    build_layers,
    decisions_needs,
    narrow,
    output_columns,
    status_label,
    totals,
    totals_needs,
)
from mcrc.cohort.plan import Plan
from mcrc.cohort.schema import DECISION_ID

DIALECTS = ("duckdb", "spark", "postgres")
SOURCE = "cohort"
_CMP = {"lt": exp.LT, "le": exp.LTE, "gt": exp.GT, "ge": exp.GTE, "ne": exp.NEQ}
ID_COLUMNS = (DECISION_ID, "patient_id", "centre")


class SqlOps:
    """The audit's operations as sqlglot nodes."""

    def col(self, name: str) -> exp.Expression:
        return exp.column(name, quoted=True)

    def lit(self, value: Any) -> exp.Expression:
        if isinstance(value, bool):
            return exp.Boolean(this=value)
        if isinstance(value, str):
            return exp.Literal.string(value)
        return exp.Literal.number(value)

    def null(self) -> exp.Expression:
        return exp.Null()

    def eq(self, x, value):
        return exp.EQ(this=_own(x), expression=self.lit(value))

    def isin(self, x, values: Sequence[Any]):
        return exp.In(this=_own(x), expressions=[self.lit(v) for v in values])

    def cmp(self, x, op: str, value):
        return _CMP[op](this=_own(x), expression=self.lit(value) if not isinstance(value, exp.Expression) else value)

    def is_null(self, x):
        return exp.Is(this=_p(_own(x)), expression=exp.Null())

    def not_null(self, x):
        return exp.Not(this=self.is_null(x))

    def is_true(self, x):
        # COALESCE(x, FALSE) rather than `x IS TRUE`, which Spark's parser does not accept
        return exp.Coalesce(this=_own(x), expressions=[exp.Boolean(this=False)])

    def and_(self, xs):
        xs = [_own(x) for x in xs]
        if not xs:
            return exp.Boolean(this=True)
        return exp.and_(*[_p(x) for x in xs], wrap=False, copy=False) if len(xs) > 1 else xs[0]

    def or_(self, xs):
        xs = [_own(x) for x in xs]
        if not xs:
            return exp.Boolean(this=False)
        return exp.Paren(this=exp.or_(*[_p(x) for x in xs], wrap=False, copy=False)) if len(xs) > 1 else xs[0]

    def not_(self, x):
        return exp.Not(this=_p(_own(x)))

    def case(self, whens, default=None):
        node = exp.Case()
        for cond, value in whens:
            node = node.when(_own(cond), _own(value), copy=False)
        return node.else_(_own(default), copy=False) if default is not None else node

    def join(self, parts):
        """Comma-joined labels of the TRUE conditions, in the given order (CONCAT_WS skips NULLs)."""
        items = [exp.Case().when(_own(cond), exp.Literal.string(label), copy=False) for cond, label in parts]
        if not items:
            return exp.Literal.string("")
        return exp.ConcatWs(expressions=[exp.Literal.string(","), *items], coalesce=True)

    def count_true(self, xs):
        one, zero = exp.Literal.number(1), exp.Literal.number(0)
        terms = [exp.Case().when(self.is_true(x), one.copy(), copy=False).else_(zero.copy(), copy=False) for x in xs]
        total = terms[0]
        for t in terms[1:]:
            total = exp.Add(this=total, expression=t)
        return exp.Paren(this=total)


def _own(x: exp.Expression) -> exp.Expression:
    """A node already placed in the tree is copied before reuse (a sqlglot node has one parent);
    fresh nodes are attached as they are, so building the big query does not copy it over and over."""
    return x.copy() if x.parent is not None else x


def _p(x: exp.Expression) -> exp.Expression:
    """Parenthesise compound operands so precedence never depends on the dialect."""
    if isinstance(x, exp.Connector | exp.Not | exp.Is | exp.Binary) and not isinstance(x, exp.Paren):
        return exp.Paren(this=x)
    return x


def _layered(plan: Plan, source: exp.Select, final: list[tuple[str, exp.Expression]] | str,
             weighted: bool, wanted: frozenset[str]) -> exp.Select:
    """Layers as CTEs, narrowed: each computes only the derived columns some output reads (transitively)
    and carries forward only the columns a later layer or the output still reads."""
    ops = SqlOps()
    cut = narrow(plan, build_layers(plan, ops), wanted | ({"n"} if weighted else set()))
    ctes: list[tuple[str, exp.Select]] = [("l0", source)]
    for i, (layer, live) in enumerate(zip(cut.layers.layers, cut.live, strict=True), start=1):
        new = {name for name, _ in layer}
        carried = [ops.col(name) for name in live if name not in new]
        select = exp.select(*carried, *[exp.alias_(e, name, quoted=True, copy=False) for name, e in layer],
                            copy=False).from_(f"l{i - 1}", copy=False)
        ctes.append((f"l{i}", select))
    last = f"l{len(cut.layers.layers)}"
    weight = ops.col("n") if weighted else exp.Literal.number(1)
    if final == "summary":
        keys = [ops.col(k) for k in GROUP_KEYS]
        count = exp.Sum(this=weight) if weighted else exp.Count(this=exp.Star())

        def counted(cond: exp.Expression) -> exp.Expression:
            # both count only TRUE; COUNT_IF needs no CASE (Postgres gets SUM(CASE ...) from sqlglot); `FILTER
            # (WHERE ...)` per aggregate was ten times slower on DuckDB
            if weighted:
                return exp.Sum(this=exp.Case().when(_own(cond), weight.copy(), copy=False)
                               .else_(exp.Literal.number(0), copy=False))
            return exp.CountIf(this=_own(cond))

        aggs = [exp.alias_(counted(cond), name, quoted=True, copy=False)
                for name, cond in totals(plan, _CountOps(), cut.layers)]
        body = exp.select(*keys, exp.alias_(count, "decisions", quoted=True), *aggs,
                          copy=False).from_(last).group_by(*[k.copy() for k in keys])
    elif final == "groups":
        keys = [ops.col(k) for k in GROUP_KEYS]
        body = exp.select(*keys, exp.alias_(exp.Sum(this=weight), "decisions", quoted=True)).from_(last).group_by(*keys)
    elif final == "totals":
        aggs = [exp.alias_(exp.Sum(this=exp.Case().when(_own(cond), weight.copy(), copy=False)
                                   .else_(exp.Literal.number(0), copy=False)), name, quoted=True, copy=False)
                for name, cond in totals(plan, ops, cut.layers)]
        body = exp.select(*aggs, copy=False).from_(last)
    else:
        body = exp.select(*[exp.alias_(_own(e), n, quoted=True, copy=False) for n, e in final], copy=False).from_(last)
    for name, select in ctes:
        body = body.with_(name, as_=select)
    return body


class _CountOps(SqlOps):
    """For COUNT_IF, which counts only TRUE: `is_true` (NULL -> FALSE) changes no count
    where it sits only under AND/OR, as in every total, so it is left out."""

    def is_true(self, x):
        return _own(x)


def _year(ops: SqlOps) -> exp.Expression:
    return exp.Extract(this=exp.var("YEAR"), expression=ops.col("decision_date"))


def decisions_query(plan: Plan) -> exp.Select:
    """Per decision point: identifiers, what was done, rows fired/possible, recommended codes, status, missing."""
    ops = SqlOps()
    source = exp.select(exp.Star(), exp.alias_(_year(ops), "year", quoted=True)).from_(exp.to_table(SOURCE))
    passed = (*ID_COLUMNS, "year", "site", *DONE_COLUMNS)
    final = [(c, ops.col(c)) for c in passed]
    final += [*output_columns(plan, ops, build_layers(plan, ops)), ("status", status_label(ops))]
    return _layered(plan, source, final, weighted=False, wanted=decisions_needs(plan) | frozenset(passed))


def summary_query(plan: Plan, kind: str = "totals", grouped: bool = True) -> exp.Select:
    """The concordance counts: `groups` (decisions by site, year, centre, status) or `totals` (one row of
    per-table, per-row and missing-fact sums).

    Each query reads only the columns it needs (the totals neither year nor centre). With `grouped`,
    identical decision points (same columns read) are counted first and the rules run once per distinct
    tuple, weighted by the count."""
    ops = SqlOps()
    wanted = totals_needs(plan) if kind == "totals" else frozenset(GROUP_KEYS)
    keep = [c for c in narrow(plan, build_layers(plan, ops), wanted).inputs if c != "year"]
    cols = [ops.col(c) for c in keep]
    if grouped:
        source = exp.select(*cols, exp.alias_(_year(ops), "year", quoted=True),
                            exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)
                            ).from_(exp.to_table(SOURCE)).group_by(*cols, _year(ops))
    else:
        source = exp.select(*cols, exp.alias_(_year(ops), "year", quoted=True)).from_(exp.to_table(SOURCE))
    return _layered(plan, source, kind, weighted=grouped, wanted=wanted)


def one_pass_query(plan: Plan, grouped: bool = True) -> exp.Select:
    """Groups and totals in one pass: the decisions by site, year, centre and status, each group with its
    per-table, per-row and missing-fact counts (`COUNT_IF`); the totals are the column sums
    over the groups (`split_summary`). The layers run once, where `groups` and `totals` run them twice."""
    ops = SqlOps()
    wanted = totals_needs(plan) | frozenset(GROUP_KEYS)
    keep = [c for c in narrow(plan, build_layers(plan, ops), wanted).inputs if c != "year"]
    cols = [ops.col(c) for c in keep]
    if grouped:
        source = exp.select(*cols, exp.alias_(_year(ops), "year", quoted=True),
                            exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)
                            ).from_(exp.to_table(SOURCE)).group_by(*cols, _year(ops))
    else:
        source = exp.select(*cols, exp.alias_(_year(ops), "year", quoted=True)).from_(exp.to_table(SOURCE))
    return _layered(plan, source, "summary", weighted=grouped, wanted=wanted)


def split_summary(frame: Any) -> tuple[Any, Any]:
    """(groups, one row of totals) from the one-pass result (a Polars frame)."""
    import polars as pl

    keys = [*GROUP_KEYS, "decisions"]
    rest = [c for c in frame.columns if c not in keys]
    groups = frame.select(*GROUP_KEYS, pl.col("decisions").cast(pl.Int64))
    return groups, frame.select([pl.col(c).sum().cast(pl.Int64) for c in rest])


def render(query: exp.Expression, dialect: str, pretty: bool = False) -> str:
    return query.sql(dialect=dialect, pretty=pretty)


_CACHE: dict[tuple, str] = {}


def query(plan: Plan, kind: str, grouped: bool = True) -> exp.Select:
    """`decisions`, `summary` (groups and totals in one pass), `groups` or `totals`."""
    if kind == "decisions":
        return decisions_query(plan)
    if kind == "summary":
        return one_pass_query(plan, grouped)
    if kind in ("groups", "totals"):
        return summary_query(plan, kind, grouped)
    raise ValueError(f"unknown query {kind!r}")


def cached_sql(plan: Plan, kind: str, dialect: str, grouped: bool = True, pretty: bool = False) -> str:
    """Generated SQL text, cached per knowledge base version (generation takes about a second)."""
    key = (plan.kb_version, plan.show_evidence, kind, dialect, grouped, pretty)
    if key not in _CACHE:
        _CACHE[key] = render(query(plan, kind, grouped), dialect, pretty)
    return _CACHE[key]
