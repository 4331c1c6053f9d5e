"""Evaluate the decision tables over Facts with Kleene logic: which tables apply, which rows fire and which
are possible, by the compiled tables or the reference interpreter.

A row *fires* when its table applies and all its conditions are TRUE; it is *possible* when the
result is UNKNOWN (filling unknown facts could make it fire). A default row fires when its table
applies and no other row of the table fired, so every patient in scope gets an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcrc.errors import HitPolicyViolation
from mcrc.facts.model import Facts
from mcrc.knowledge.compile import compiled as compiled_knowledge
from mcrc.knowledge.compile import compiled_table
from mcrc.knowledge.model import KnowledgeBase, Row, Table
from mcrc.logic import Tri

ENGINE_VERSION = "0.1.0"
_T, _F, _U = Tri.TRUE, Tri.FALSE, Tri.UNKNOWN

_NONE: frozenset[str] = frozenset()  # the unknown facts of a row that is not possible (shared, never modified)


@dataclass(slots=True)
class RowResult:
    row: Row
    result: Tri
    conditions: tuple[Tri, ...]  # one result per top-level condition, in row.checks order
    unknown_facts: set[str] | frozenset[str]


Evaluated = list[tuple[Table, Tri, "list[RowResult] | None"]]
_TABLE_FACTS: dict[int, tuple[Table, frozenset[str]]] = {}


def table_facts(table: Table) -> frozenset[str]:
    """Every fact a table reads (its applies condition and all its rows), cached per table."""
    hit = _TABLE_FACTS.get(id(table))
    if hit is None or hit[0] is not table:
        names = set(table.applies_facts)
        for row in table.rows:
            for group in row.check_facts:
                names |= group
        hit = _TABLE_FACTS[id(table)] = (table, frozenset(names))
    return hit[1]


_READERS: dict[int, tuple[KnowledgeBase, dict[str, tuple[int, ...]]]] = {}


def fact_readers(kb: KnowledgeBase) -> dict[str, tuple[int, ...]]:
    """Per fact, the positions of the tables that read it (cached per knowledge base): a changed fact makes only
    these tables worth evaluating again."""
    hit = _READERS.get(id(kb))
    if hit is None or hit[0] is not kb:
        by_fact: dict[str, list[int]] = {}
        for i, t in enumerate(kb.tables):
            for f in table_facts(t):
                by_fact.setdefault(f, []).append(i)
        hit = _READERS[id(kb)] = (kb, {f: tuple(ix) for f, ix in by_fact.items()})
    return hit[1]


def evaluate_rows(kb: KnowledgeBase, facts: Facts, show_evidence: bool = True,
                  previous: Evaluated | None = None, changed: frozenset[str] | set[str] = frozenset()) -> Evaluated:
    """Per table: whether it applies, and each row's result with its per-condition results.
    A table that does not apply fires nothing; its rows are not evaluated (results is None).
    With `show_evidence` off, tables of newer-evidence sources are treated as not applying.
    `previous`: the results for facts that differ from these only in `changed`; a table that reads none of the
    changed facts keeps its previous result (the provisional answer and the branches are evaluated this way)."""
    values = facts.values
    out: Evaluated = []
    for i, table in enumerate(kb.tables):
        if previous is not None and not (changed & table_facts(table)):
            out.append(previous[i])
        else:
            out.append(evaluate_table(table, values, show_evidence))
    return out


def evaluate_table(table: Table, values: dict, show_evidence: bool = True) -> tuple[Table, Tri, list[RowResult] | None]:
    """One table over the fact values: whether it applies, and each row's result (see evaluate_rows)."""
    if not show_evidence and table.evidence:
        return (table, _F, None)
    applies = table.applies_check(values)
    if applies is _F:
        return (table, applies, None)
    results: list[RowResult] = []
    append = results.append
    any_fired = False
    for row in table.rows:
        if row.default:
            append(RowResult(row, _F, (), _NONE))
            continue
        # conditions are evaluated in order until one is FALSE (the trace shows those evaluated)
        evaluated: list[Tri] = []
        res = applies
        for check in row.fns:
            r = check(values)
            evaluated.append(r)
            if r is _F:
                res = _F
                break
            if r is _U:  # r and res are TRUE or UNKNOWN here: their conjunction is UNKNOWN if either is
                res = _U
        conds = tuple(evaluated)
        if res is _U:
            unknown: set[str] = set()
            if applies is _U:
                unknown |= {f for f in table.applies_facts if values.get(f) is None}
            for names, r in zip(row.check_facts, conds, strict=False):
                if r is _U:
                    unknown |= {f for f in names if values.get(f) is None}
            append(RowResult(row, res, conds, unknown))
            continue
        if res is _T:
            any_fired = True
        append(RowResult(row, res, conds, _NONE))
    for rr in results:
        if rr.row.default:
            rr.result = _T if applies is _T and not any_fired else _F
    if table.hit == "unique":
        fired = [rr.row.id for rr in results if rr.result is _T]
        if len(fired) > 1:
            raise HitPolicyViolation(table.id, fired)
    return (table, applies, results)


def fired_in_table(table: Table, values: dict, show_evidence: bool = True) -> list[Row]:
    """Only the rows of one table that fire (defaults included), without the per-condition results and unknown
    facts evaluate_table records: what a hypothetical answer (a branch) needs, at a fraction of the cost."""
    if not show_evidence and table.evidence:
        return []
    applies = table.applies_check(values)
    if applies is not _T:
        return []
    fired: list[Row] = []
    default = None
    for row in table.rows:
        if row.default:
            default = row
            continue
        for check in row.fns:
            if check(values) is not _T:
                break
        else:
            fired.append(row)
    if table.hit == "unique" and len(fired) > 1:
        raise HitPolicyViolation(table.id, [r.id for r in fired])
    if not fired and default is not None:
        fired.append(default)
    return fired


# --- the results the Assessment is built from -------------------------------------------------------------------
# Per table: (table, applies, fired rows, possible rows as (row, its unknown facts), trace), truth values as ints in
# Kleene order (0 FALSE, 1 UNKNOWN, 2 TRUE). `trace` is None unless asked for (and for a table that does not apply):
# row after row, the row's result and the results of the conditions evaluated, in one flat tuple (`_row_codes`).
# The compiled tables (mcrc.knowledge.compile) produce it directly; `_interpreted_table` makes it from the reference
# interpreter's RowResults.
TableRows = tuple[Table, int, "list[Row] | tuple", "list[tuple[Row, set[str] | frozenset[str]]] | tuple",
                  "tuple | None"]
Rows = list[TableRows]


def _interpreted_table(res: tuple[Table, Tri, list[RowResult] | None], trace: bool) -> TableRows:
    table, applies, results = res
    if results is None:
        return (table, applies.rank, (), (), None)
    fired = [rr.row for rr in results if rr.result is _T]
    possible = [(rr.row, rr.unknown_facts) for rr in results if rr.result is _U]
    tr = tuple(x for rr in results for x in (rr.result.rank, *(c.rank for c in rr.conditions))) if trace else None
    return (table, applies.rank, fired, possible, tr)


def evaluate_tables(kb: KnowledgeBase, facts: Facts, show_evidence: bool = True, trace: bool = False,
                    previous: Rows | None = None, changed: frozenset[str] | set[str] = frozenset(),
                    compiled: bool = True) -> Rows:
    """Every table over the facts, by the compiled tables (default) or the reference interpreter. `trace`: record
    each row's condition results. `previous`, `changed`: as for evaluate_rows (a table reading none of the changed
    facts keeps its previous result)."""
    values = facts.values
    if not compiled:
        out: Rows = []
        for i, table in enumerate(kb.tables):
            if previous is not None and not (changed & table_facts(table)):
                out.append(previous[i])
            else:
                out.append(_interpreted_table(evaluate_table(table, values, show_evidence), trace))
        return out
    if previous is None:
        return compiled_knowledge(kb).evaluate(values, trace, show_evidence)
    readers = fact_readers(kb)
    redo = [False] * len(kb.tables)
    for f in changed:
        for i in readers.get(f, ()):
            redo[i] = True
    return compiled_knowledge(kb).evaluate(values, trace, show_evidence, previous, redo)


def fired_rows(table: Table, values: dict, show_evidence: bool = True, compiled: bool = True) -> list[Row]:
    """fired_in_table by the compiled table (or the interpreter with `compiled=False`)."""
    if not compiled:
        return fired_in_table(table, values, show_evidence)
    if not show_evidence and table.evidence:
        return []
    return compiled_table(table).fired(values)
