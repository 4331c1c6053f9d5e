"""The audit written once, over an abstract set of operations that SQL (sqlglot) and Polars both provide.

Layers (each reads only earlier layers, so each backend can compute them as successive projections):

1. conditions: every distinct top-level condition of a row and every table scope, once per decision point;
2. tables: scope result (TRUE, NULL = unknown, FALSE; FALSE for hidden newer-evidence tables);
3. rows: `scope AND conditions` with Kleene logic; NULL means *possible*, exactly as the engine;
4. default rows: fire when the scope is TRUE and no other row of the table fired (never NULL);
5. concordance: what was done against the treatment codes of fired and possible rows;
6. outputs: per-decision strings and, for the summary, per-group sums.

"Open" rows are those that could still recommend: possible rows, and a default row whose table's
scope is unknown (filling the scope could make it fire). They make a decision point not decidable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from mcrc.cohort.plan import Plan, RowPlan, TablePlan
from mcrc.cohort.schema import DONE_ACTION, DONE_REGIMEN
from mcrc.knowledge.expr import And, Cmp, Eq, Expr, In, Known, Not, Or

STATUSES = ("concordant", "discordant", "not_decidable", "not_covered")
# statuses travel as small integers between layers (cheaper than strings); outputs spell them out
CODE = {s: i for i, s in enumerate(STATUSES, start=1)}
SITES = ("unknown", "none", "multiple", "lung", "liver", "peritoneum", "other")
SITE_FACTS = ("metastatic", "metastatic_organ_count", "lung_mets", "liver_mets", "peritoneal_mets")
GROUP_KEYS = ("site", "year", "centre", "status")
DONE_COLUMNS = (DONE_ACTION, DONE_REGIMEN)


class Ops(Protocol):
    """How a backend spells each node; X is the backend's expression type."""

    def col(self, name: str) -> Any: ...
    def lit(self, value: Any) -> Any: ...
    def null(self) -> Any: ...
    def eq(self, x: Any, value: Any) -> Any: ...
    def isin(self, x: Any, values: Sequence[Any]) -> Any: ...
    def cmp(self, x: Any, op: str, value: Any) -> Any: ...
    def is_null(self, x: Any) -> Any: ...
    def not_null(self, x: Any) -> Any: ...
    def is_true(self, x: Any) -> Any: ...
    def and_(self, xs: Sequence[Any]) -> Any: ...
    def or_(self, xs: Sequence[Any]) -> Any: ...
    def not_(self, x: Any) -> Any: ...
    def case(self, whens: Sequence[tuple[Any, Any]], default: Any = None) -> Any: ...
    def join(self, parts: Sequence[tuple[Any, str]]) -> Any: ...
    def count_true(self, xs: Sequence[Any]) -> Any: ...


def expr(o: Ops, e: Expr) -> Any:
    """One condition tree in the backend's spelling; unknown facts are NULL, so Kleene logic is SQL's."""
    if isinstance(e, Eq):
        return o.eq(o.col(e.fact), e.value)
    if isinstance(e, In):
        return o.isin(o.col(e.fact), list(e.values))
    if isinstance(e, Cmp):
        return o.cmp(o.col(e.fact), e.op, e.value)
    if isinstance(e, Known):
        return o.not_null(o.col(e.fact)) if e.known else o.is_null(o.col(e.fact))
    if isinstance(e, And):
        return o.and_([expr(o, i) for i in e.items]) if e.items else o.lit(True)
    if isinstance(e, Or):
        return o.or_([expr(o, i) for i in e.items]) if e.items else o.lit(False)
    if isinstance(e, Not):
        return o.not_(expr(o, e.item))
    raise TypeError(f"not a condition node: {e!r}")


def _site(o: Ops) -> Any:
    """Metastatic site group of a decision point, from the facts (documented in docs/cohort.md)."""
    c = o.col
    return o.case([
        (o.is_null(c("metastatic")), o.lit("unknown")),
        (o.eq(c("metastatic"), False), o.lit("none")),
        (o.cmp(c("metastatic_organ_count"), "gt", 1), o.lit("multiple")),
        (o.eq(c("lung_mets"), True), o.lit("lung")),
        (o.eq(c("liver_mets"), True), o.lit("liver")),
        (o.eq(c("peritoneal_mets"), True), o.lit("peritoneum")),
    ], o.lit("other"))


@dataclass(frozen=True)
class Layers:
    """Named expressions per layer, plus the names the outputs are built from."""

    layers: tuple[tuple[tuple[str, Any], ...], ...]
    missing: tuple[tuple[str, str], ...]  # (name shown, flag column)
    # layers from this index on compute the missing facts, which are FALSE unless the status is not decidable:
    # a backend may compute them only on the not-decidable decision points (a few percent of them)
    undecided_from: int = 8

    def split(self) -> tuple[Layers, Layers]:
        """(the layers every decision point needs, the missing-fact layers needed only where not decidable)."""
        k = self.undecided_from
        return Layers(self.layers[:k], self.missing, k), Layers(self.layers[k:], self.missing, 0)


def _fired(o: Ops, r: RowPlan) -> Any:
    return o.is_true(o.col(r.col))


def _open(o: Ops, t: TablePlan, r: RowPlan) -> Any:
    return o.is_null(o.col(t.col)) if r.default else o.is_null(o.col(r.col))


def _match(o: Ops, r: RowPlan) -> Any:
    """Whether what was done is among this row's treatment codes (FALSE when nothing done is recorded)."""
    parts = ([o.col(f"ma{r.col}")] if r.actions else []) + ([o.col(f"mg{r.col}")] if r.regimens else [])
    return o.or_(parts)


def build_layers(plan: Plan, o: Ops) -> Layers:
    c = o.col
    treat_rows = [(t, r) for t in plan.tables for r in t.rows if r.treats]
    l1 = [(name, expr(o, tree)) for name, tree in plan.conditions.items()]
    l1.append(("site", _site(o)))

    l2 = []
    for t in plan.tables:
        if t.evidence and not plan.show_evidence:
            l2.append((t.col, o.lit(False)))
        else:
            l2.append((t.col, c(t.applies) if t.applies else o.lit(True)))

    # a hidden newer-evidence table's rows are FALSE whatever their conditions (FALSE AND x is FALSE),
    # so their conditions are not read at all
    hidden = {t.id for t in plan.tables if t.evidence and not plan.show_evidence}
    l3 = [(r.col, o.lit(False) if t.id in hidden else o.and_([c(t.col), *(c(x) for x in r.conds)]))
          for t in plan.tables for r in t.rows if not r.default]

    l4: list[tuple[str, Any]] = []
    for t in plan.tables:
        others = [_fired(o, r) for r in t.rows if not r.default]
        for r in t.rows:
            if r.default:
                fires = o.and_([o.is_true(c(t.col)), o.not_(o.or_(others))]) if others else o.is_true(c(t.col))
                l4.append((r.col, fires))
    # per treatment row: the action done / the regimen given is among its codes (each IN list once)
    l4 += [(f"ma{r.col}", o.is_true(o.isin(c(DONE_ACTION), list(r.actions)))) for _, r in treat_rows if r.actions]
    l4 += [(f"mg{r.col}", o.is_true(o.isin(c(DONE_REGIMEN), list(r.regimens)))) for _, r in treat_rows if r.regimens]
    l4b = [(f"m{r.col}", _match(o, r)) for _, r in treat_rows]

    # decision point, per done code: supported by a fired row, or only by an open one
    def support(prefix: str, attr: str, opened: bool) -> Any:
        parts = [o.and_([_open(o, t, r) if opened else _fired(o, r), c(f"{prefix}{r.col}")])
                 for t, r in treat_rows if getattr(r, attr)]
        return o.or_(parts) if parts else o.lit(False)

    l5 = [("sup_a", support("ma", "actions", False)), ("open_a", support("ma", "actions", True)),
          ("sup_g", support("mg", "regimens", False)), ("open_g", support("mg", "regimens", True))]
    nothing_done = o.and_([o.is_null(c(DONE_ACTION)), o.is_null(c(DONE_REGIMEN))])
    for t in plan.tables:
        rows = [r for r in t.rows if r.treats]
        if not rows:
            continue
        followed = o.or_([o.and_([_fired(o, r), c(f"m{r.col}")]) for r in rows])
        maybe = o.or_([o.and_([_open(o, t, r), c(f"m{r.col}")]) for r in rows])
        active = o.or_([o.or_([_fired(o, r), _open(o, t, r)]) for r in rows])
        # table status as three exclusive flags (boolean algebra is far cheaper than CASE on every backend)
        l5.append((f"sc{t.col}", followed))
        l5.append((f"active{t.col}", active))
        l5.append((f"undecidable{t.col}", o.or_([maybe, nothing_done])))
    for t in plan.tables:
        if t.hit == "unique" and len(t.rows) > 1:
            l5.append((f"h{t.col}", o.cmp(o.count_true([c(r.col) for r in t.rows]), "gt", 1)))

    a, g = c(DONE_ACTION), c(DONE_REGIMEN)
    # some treatment row fired or is open: the same as some table being active (each table's OR reused)
    l6_flags: list[tuple[str, Any]] = [("treated", o.or_([c(f"active{t.col}") for t in plan.tables if t.treats]))]
    unsupported = o.or_([
        o.and_([o.not_null(a), o.not_(c("sup_a")), o.not_(c("open_a"))]),
        o.and_([o.not_null(g), o.not_(c("sup_g")), o.not_(c("open_g"))]),
    ])
    supported = o.and_([o.or_([o.is_null(a), c("sup_a")]), o.or_([o.is_null(g), c("sup_g")])])
    for t in plan.tables:
        if t.treats:
            open_t = o.and_([o.not_(c(f"sc{t.col}")), c(f"active{t.col}")])
            l6_flags.append((f"su{t.col}", o.and_([open_t, c(f"undecidable{t.col}")])))
            l6_flags.append((f"sd{t.col}", o.and_([open_t, o.not_(c(f"undecidable{t.col}"))])))
    l6 = l6_flags
    l6s = [("status", o.case([
        (o.not_(c("treated")), o.lit(CODE["not_covered"])),
        (nothing_done, o.lit(CODE["not_decidable"])),
        (unsupported, o.lit(CODE["discordant"])),
        (supported, o.lit(CODE["concordant"])),
    ], o.lit(CODE["not_decidable"])))]

    # missing facts of a not-decidable decision point: the unknown facts of the open rows that would
    # recommend what was done (the same facts the engine lists as a possible row's `needs`)
    undecided = o.eq(c("status"), CODE["not_decidable"])
    open_a = o.and_([o.not_null(a), o.not_(c("sup_a"))])
    open_g = o.and_([o.not_null(g), o.not_(c("sup_g"))])
    l7a: list[tuple[str, Any]] = []
    by_fact: dict[str, list[Any]] = {}
    for t, r in treat_rows:
        wants = ([o.and_([open_a, c(f"ma{r.col}")])] if r.actions else []) + \
            ([o.and_([open_g, c(f"mg{r.col}")])] if r.regimens else [])
        # guarded by a CASE: a backend that evaluates its branches lazily (DuckDB, Spark) computes the rest only
        # where the status is not decidable, a few percent of decision points
        l7a.append((f"w{r.col}", o.case([(undecided, o.and_([_open(o, t, r), o.or_(wants)]))], o.lit(False))))
        needs: dict[str, list[Any]] = {}
        for f in t.applies_facts:
            needs.setdefault(f, []).append(o.is_null(c(t.col)))
        if not r.default:
            for f, conds in r.fact_conds:
                needs.setdefault(f, []).extend(o.is_null(c(x)) for x in conds)
        for f, why in needs.items():
            by_fact.setdefault(f, []).append(o.and_([c(f"w{r.col}"), o.or_(why)]))
    l7: list[tuple[str, Any]] = []
    missing: list[tuple[str, str]] = []
    for f in sorted(by_fact):
        l7.append((f"x_{f}", o.case([(undecided, o.and_([o.is_null(c(f)), o.or_(by_fact[f])]))], o.lit(False))))
        missing.append((f, f"x_{f}"))
    l7.append(("x_done", o.and_([undecided, nothing_done])))
    missing += [(DONE_ACTION, "x_done"), (DONE_REGIMEN, "x_done")]
    missing.sort()
    layers = (l1, l2, l3, l4, l4b, l5, l6, l6s, l7a, l7)
    return Layers(layers=tuple(tuple(x) for x in layers), missing=tuple(missing), undecided_from=len(layers) - 2)


class DepsOps:
    """The operations as the set of columns an expression reads: running the audit's definition through
    this backend gives every derived column's inputs, from which each output's needs follow transitively."""

    def col(self, name: str) -> frozenset[str]:
        return frozenset((name,))

    def lit(self, value: Any) -> frozenset[str]:
        return frozenset()

    def null(self) -> frozenset[str]:
        return frozenset()

    def eq(self, x, value):
        return x

    def isin(self, x, values):
        return x

    def cmp(self, x, op, value):
        return x | value if isinstance(value, frozenset) else x

    def is_null(self, x):
        return x

    def not_null(self, x):
        return x

    def is_true(self, x):
        return x

    def and_(self, xs):
        return frozenset().union(*xs)

    def or_(self, xs):
        return frozenset().union(*xs)

    def not_(self, x):
        return x

    def case(self, whens, default=None):
        return frozenset().union(*(c | v for c, v in whens), default or frozenset())

    def join(self, parts):
        return frozenset().union(*(c for c, _ in parts))

    def count_true(self, xs):
        return frozenset().union(*xs)


@dataclass(frozen=True)
class Narrowed:
    """The layers cut down to what some outputs read, transitively through the derived columns.

    `layers` keeps, per layer, only the columns needed; `live[i]` lists the columns (inputs and derived)
    still read after layer i (a backend that carries columns from layer to layer keeps only these);
    `inputs` are the columns of the source (facts, what was done, centre, year) that are read at all."""

    layers: Layers
    live: tuple[tuple[str, ...], ...]
    inputs: tuple[str, ...]


def dependencies(plan: Plan) -> tuple[Layers, dict[str, frozenset[str]]]:
    """(the layers as read-sets, each derived column -> the columns it reads directly)."""
    deps = build_layers(plan, DepsOps())
    return deps, {name: reads for layer in deps.layers for name, reads in layer}


def narrow(plan: Plan, layers: Layers, wanted: set[str] | frozenset[str]) -> Narrowed:
    """Keep only the derived columns `wanted` reads, directly or through other derived columns."""
    _, reads = dependencies(plan)
    need: set[str] = set()
    todo = list(wanted)
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        todo.extend(reads.get(name, ()))
    kept = tuple(tuple((n, e) for n, e in layer if n in need) for layer in layers.layers)
    derived = set(reads)
    inputs = tuple(sorted(n for n in need if n not in derived))
    # after layer i: what is wanted at the end, plus whatever later layers read
    live: list[tuple[str, ...]] = []
    later: set[str] = set(wanted)
    for layer in reversed(kept):
        live.append(tuple(sorted(later)))
        later -= {name for name, _ in layer}  # defined here: not needed before this layer
        for name, _ in layer:
            later |= reads[name]
    live.reverse()
    return Narrowed(Layers(layers=kept, missing=tuple(m for m in layers.missing if m[1] in need),
                           undecided_from=layers.undecided_from),
                    tuple(live), inputs)


def reads_of(exprs: list[tuple[str, Any]] | list[Any]) -> frozenset[str]:
    """Columns read by expressions built with DepsOps (named pairs or bare)."""
    return frozenset().union(*(e[1] if isinstance(e, tuple) else e for e in exprs))


def totals_needs(plan: Plan) -> frozenset[str]:
    """Columns the per-table, per-row and missing-fact totals read."""
    deps, _ = dependencies(plan)
    return reads_of(totals(plan, DepsOps(), deps))


def summary_needs(plan: Plan) -> frozenset[str]:
    """Columns the concordance table reads: the grouping keys and every total."""
    return totals_needs(plan) | frozenset(GROUP_KEYS)


def decisions_needs(plan: Plan) -> frozenset[str]:
    """Columns the per-decision output reads: its lists and status (identifiers are passed through)."""
    o = DepsOps()
    deps, _ = dependencies(plan)
    return reads_of(output_columns(plan, o, deps)) | frozenset(("status", "site"))


def output_columns(plan: Plan, o: Ops, layers: Layers) -> list[tuple[str, Any]]:
    """The per-decision-point strings: rows fired and possible, recommended codes, missing facts, hit violations."""
    c = o.col
    fired = [(o.is_true(c(r.col)), r.id) for r in plan.rows]
    possible = [(o.is_null(c(r.col)), r.id) for r in plan.rows if not r.default]
    codes = [(o.or_([o.is_true(c(col)) for col in cols]), code) for code, cols in plan.codes.items()]
    missing = [(o.is_true(c(flag)), name) for name, flag in layers.missing]
    hits = [(o.is_true(c(f"h{t.col}")), t.id) for t in plan.tables if t.hit == "unique" and len(t.rows) > 1]
    return [("fired_rows", o.join(fired)), ("possible_rows", o.join(possible)), ("recommended", o.join(codes)),
            ("missing", o.join(missing)), ("hit_violations", o.join(hits))]


def status_label(o: Ops) -> Any:
    return o.case([(o.eq(o.col("status"), CODE[s]), o.lit(s)) for s in STATUSES])


_FLAG = {"concordant": "sc", "discordant": "sd", "not_decidable": "su"}
MISSING_TOTAL = "missing|"  # totals named so read only the missing-fact layers (zero unless not decidable)


def totals(plan: Plan, o: Ops, layers: Layers) -> list[tuple[str, Any]]:
    """Conditions whose (weighted) counts make the concordance table, keyed by a stable column name."""
    c = o.col
    out: list[tuple[str, Any]] = []
    for name, flag in layers.missing:
        if flag != "x_done":
            out.append((f"{MISSING_TOTAL}{name}", o.is_true(c(flag))))
    out.append((f"{MISSING_TOTAL}done", o.is_true(c("x_done"))))
    for t in plan.tables:
        if t.treats:
            for s in STATUSES[:3]:
                out.append((f"table|{t.id}|{s}", c(f"{_FLAG[s]}{t.col}")))
    for t in plan.tables:
        for r in t.rows:
            out.append((f"row|{r.id}|fired", o.is_true(c(r.col))))
            if not r.default:
                out.append((f"row|{r.id}|possible", o.is_null(c(r.col))))
            if r.treats:
                out.append((f"row|{r.id}|followed", o.and_([o.is_true(c(r.col)), c(f"m{r.col}")])))
                out.append((f"row|{r.id}|departed", o.and_([o.is_true(c(r.col)), c(f"sd{t.col}")])))
                out.append((f"row|{r.id}|undecided", o.and_([_open(o, t, r), c(f"su{t.col}")])))
    return out
