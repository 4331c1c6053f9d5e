"""Compile the audit to SQL through sqlglot's typed expression tree (no SQL text is concatenated).

One canonical query per output is built as sqlglot nodes and generated for DuckDB, Spark and
PostgreSQL. Unknown facts are SQL NULL; AND/OR/NOT/IN/= on NULL follow the same Kleene truth
tables as mcrc.logic, so each condition node maps to its SQL node one to one. Layers become CTEs
(`SELECT *, <new columns> FROM <previous layer>`) so each distinct predicate is computed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from mcrc.cohort.logic import (
    CODE,
    DONE_COLUMNS,
    GROUP_KEYS,
    MISSING_TOTAL,
    DepsOps,
    Narrowed,
    build_layers,
    decisions_needs,
    narrow,
    output_columns,
    status_label,
    summary_needs,
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


def _chain(cut: Narrowed, start: int, stop: int, source: str, prefix: str) -> list[tuple[str, exp.Select]]:
    """Layers `start`..`stop - 1` of the narrowed plan as CTEs `<prefix><i + 1>`, the first reading `source`:
    each computes only its kept columns and carries forward only the columns still read after it."""
    ops = SqlOps()
    ctes: list[tuple[str, exp.Select]] = []
    previous = source
    for i in range(start, stop):
        layer, live = cut.layers.layers[i], cut.live[i]
        new = {name for name, _ in layer}
        carried = [ops.col(name) for name in live if name not in new]
        select = exp.select(*carried, *[exp.alias_(_own(e), name, quoted=True, copy=False) for name, e in layer],
                            copy=False).from_(previous, copy=False)
        previous = f"{prefix}{i + 1}"
        ctes.append((previous, select))
    return ctes


def _ctes(plan: Plan, source: exp.Select, weighted: bool,
          wanted: frozenset[str]) -> tuple[list[tuple[str, exp.Select]], Narrowed]:
    """Layers as CTEs `l0` (the source) to `l<n>`, narrowed: each computes only the derived columns some
    output reads (transitively) and carries forward only the columns a later layer or the output still reads."""
    cut = narrow(plan, build_layers(plan, SqlOps()), wanted | ({"n"} if weighted else set()))
    return [("l0", source), *_chain(cut, 0, len(cut.layers.layers), "l0", "l")], cut


def _with(body: exp.Select, ctes: list[tuple[str, exp.Select]]) -> exp.Select:
    for name, select in ctes:
        body = body.with_(name, as_=select)
    return body


def _layered(plan: Plan, source: exp.Select, final: list[tuple[str, exp.Expression]] | str,
             weighted: bool, wanted: frozenset[str]) -> exp.Select:
    """The layers as CTEs (`_ctes`) and the output `final` over the last of them."""
    ops = SqlOps()
    ctes, cut = _ctes(plan, source, weighted, wanted)
    last = ctes[-1][0]
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
    return _with(body, ctes)


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
    wanted = totals_needs(plan) if kind == "totals" else frozenset(GROUP_KEYS)
    return _layered(plan, _source(plan, wanted, grouped), kind, weighted=grouped, wanted=wanted)


def _source(plan: Plan, wanted: frozenset[str], grouped: bool) -> exp.Select:
    """The cohort's columns the outputs read (and the year); with `grouped`, identical rows counted as `n`."""
    ops = SqlOps()
    keep = [c for c in narrow(plan, build_layers(plan, ops), wanted).inputs if c != "year"]
    cols = [ops.col(c) for c in keep]
    if grouped:
        return exp.select(*cols, exp.alias_(_year(ops), "year", quoted=True),
                          exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True)
                          ).from_(exp.to_table(SOURCE)).group_by(*cols, _year(ops))
    return exp.select(*cols, exp.alias_(_year(ops), "year", quoted=True)).from_(exp.to_table(SOURCE))


IDX = "idx"


_NAMES: dict[tuple, tuple[str, ...]] = {}


def summary_names(plan: Plan) -> tuple[str, ...]:
    """The totals' names in the order of the one-pass query's flag indices (index i + 1 is name i)."""
    key = (plan.kb_version, plan.show_evidence)
    if key not in _NAMES:
        deps = narrow(plan, build_layers(plan, DepsOps()), summary_needs(plan))
        _NAMES[key] = tuple(name for name, _ in totals(plan, DepsOps(), deps.layers))
    return _NAMES[key]


def flag_indices(terms: Sequence[tuple[int, exp.Expression]], decision: bool) -> exp.Expression:
    """The indices of the TRUE terms of one decision point, one output row each (EXPLODE/UNNEST of an
    array with the FALSE and NULL terms filtered out); with `decision`, index 0 first, always kept."""
    items = [exp.Case().when(_own(cond), exp.Literal.number(i), copy=False) for i, cond in terms]
    if decision:
        items.insert(0, exp.Literal.number(0))
    v = exp.to_identifier("v")
    kept = exp.ArrayFilter(this=exp.Array(expressions=items),
                           expression=exp.Lambda(this=exp.Not(this=exp.Is(this=v.copy(), expression=exp.Null())),
                                                 expressions=[v.copy()]))
    return exp.Explode(this=kept)


def one_pass_query(plan: Plan, grouped: bool = True) -> exp.Select:
    """Groups and totals in one pass: the decisions by site, year, centre and status, each group with its
    per-table, per-row and missing-fact counts (`COUNT_IF`, one aggregate of ~1,040 counts); the totals are
    the column sums over the groups (`split_summary`). The layers run once, where `groups` and `totals` run
    them twice. DuckDB's choice: `counts_query` is slower there (building the lists costs more than the
    wide aggregate, decision record 0055)."""
    wanted = summary_needs(plan)
    return _layered(plan, _source(plan, wanted, grouped), "summary", weighted=grouped, wanted=wanted)


def split_summary(frame: Any) -> tuple[Any, Any]:
    """(groups, one row of totals) from the one-pass result (a Polars frame)."""
    import polars as pl

    keys = [*GROUP_KEYS, "decisions"]
    rest = [c for c in frame.columns if c not in keys]
    groups = frame.select(*GROUP_KEYS, pl.col("decisions").cast(pl.Int64))
    return groups, frame.select([pl.col(c).sum().cast(pl.Int64) for c in rest])


@dataclass(frozen=True)
class CountsParts:
    """The pieces of the count-by-unnest query, shared by its SQL text and Spark's DataFrame plan."""

    cut: Narrowed  # the narrowed layers; `cut.layers.undecided_from` starts the missing-fact layers
    terms: tuple[tuple[int, exp.Expression], ...]  # (index, condition) of the totals other than missing facts
    missing: tuple[tuple[int, exp.Expression], ...]  # (index, condition) of the missing-fact totals


def counts_parts(plan: Plan, grouped: bool) -> CountsParts:
    cut = narrow(plan, build_layers(plan, SqlOps()), summary_needs(plan) | ({"n"} if grouped else set()))
    named = totals(plan, _CountOps(), cut.layers)
    split = [(i, cond, name.startswith(MISSING_TOTAL)) for i, (name, cond) in enumerate(named, start=1)]
    return CountsParts(cut, tuple((i, c) for i, c, m in split if not m), tuple((i, c) for i, c, m in split if m))


def undecided_filter() -> exp.Expression:
    return exp.EQ(this=exp.column("status", quoted=True), expression=exp.Literal.number(CODE["not_decidable"]))


def counts_grouping() -> list[tuple[str, exp.Expression]]:
    """The output's group keys: a key is kept on the rows of index 0 (a decision point) and NULL elsewhere."""
    zero = exp.EQ(this=exp.column(IDX, quoted=True), expression=exp.Literal.number(0))
    return [(k, exp.Case().when(zero.copy(), exp.column(k, quoted=True), copy=False)) for k in GROUP_KEYS]


def counts_query(plan: Plan, grouped: bool = True) -> exp.Select:
    """Groups and totals in one pass, counted by unnesting: per decision point the indices of its TRUE
    totals (about 30 of ~1,040 on the benchmark's cohort) become rows, and one narrow aggregate counts them
    instead of ~1,040 aggregate buffers per group. Output rows: `idx` 0 with the group keys is the group's
    decision count; `idx` i > 0 (keys NULL) is the count of total i (`summary_names`). `split_counts` turns
    them back into the groups and the totals.

    The missing-fact layers (FALSE unless the status is not decidable) run only over the not-decidable
    decision points: a second branch from the layers' status (`WHERE`), its flags appended to the same
    aggregate by UNION ALL (decision record 0055: on Spark the missing facts in the same list took twice as long)."""
    ops = SqlOps()
    source = _source(plan, summary_needs(plan), grouped)
    parts = counts_parts(plan, grouped)
    cut = parts.cut
    weight = [ops.col("n")] if grouped else []
    keys = [ops.col(k) for k in GROUP_KEYS]
    n, k = len(cut.layers.layers), cut.layers.undecided_from
    ctes = [("l0", source), *_chain(cut, 0, k, "l0", "l")]
    undecided = exp.select(*[ops.col(c) for c in cut.live[k - 1]]).from_(f"l{k}").where(undecided_filter())
    ctes += [(f"u{k}", undecided), *_chain(cut, k, n, f"u{k}", "u")]
    flags = exp.select(*keys, *weight, exp.alias_(flag_indices(parts.terms, True), IDX, quoted=True),
                       copy=False).from_(f"l{k}")
    more = exp.select(*[k_.copy() for k_ in keys], *[w.copy() for w in weight],
                      exp.alias_(flag_indices(parts.missing, False), IDX, quoted=True), copy=False).from_(f"u{n}")
    stream = exp.union(flags, more, distinct=False).subquery("f")
    grouping = counts_grouping()
    count = exp.Sum(this=ops.col("n")) if grouped else exp.Count(this=exp.Star())
    body = exp.select(*[exp.alias_(g, k, quoted=True) for k, g in grouping], ops.col(IDX),
                      exp.alias_(count, "decisions", quoted=True), copy=False).from_(stream, copy=False)
    body = body.group_by(*[g.copy() for _, g in grouping], ops.col(IDX), copy=False)
    return _with(body, ctes)


def split_counts(frame: Any, names: Sequence[str]) -> tuple[Any, Any]:
    """(groups, one row of totals) from the one-pass result (a Polars frame of keys, `idx`, `decisions`)."""
    import polars as pl

    groups = frame.filter(pl.col(IDX) == 0).select(*GROUP_KEYS, pl.col("decisions").cast(pl.Int64))
    counts = dict(frame.filter(pl.col(IDX) > 0).group_by(IDX).agg(pl.col("decisions").sum()).iter_rows())
    return groups, pl.DataFrame({name: [int(counts.get(i, 0))] for i, name in enumerate(names, start=1)},
                                schema={name: pl.Int64 for name in names})


def render(query: exp.Expression, dialect: str, pretty: bool = False) -> str:
    return query.sql(dialect=dialect, pretty=pretty)


_CACHE: dict[tuple, str] = {}


def query(plan: Plan, kind: str, grouped: bool = True) -> exp.Select:
    """`decisions`, `summary` (groups and totals in one pass, one wide aggregate), `counts` (the same, counted
    by unnesting the TRUE totals' indices), `groups` or `totals`."""
    if kind == "decisions":
        return decisions_query(plan)
    if kind == "summary":
        return one_pass_query(plan, grouped)
    if kind == "counts":
        return counts_query(plan, grouped)
    if kind in ("groups", "totals"):
        return summary_query(plan, kind, grouped)
    raise ValueError(f"unknown query {kind!r}")


def cached_sql(plan: Plan, kind: str, dialect: str, grouped: bool = True, pretty: bool = False) -> str:
    """Generated SQL text, cached per knowledge base version (generation takes about a second)."""
    key = (plan.kb_version, plan.show_evidence, kind, dialect, grouped, pretty)
    if key not in _CACHE:
        _CACHE[key] = render(query(plan, kind, grouped), dialect, pretty)
    return _CACHE[key]
