"""The audit plan: the knowledge base flattened into named columns every backend computes the same way.

The plan is built once from the canonical condition trees (never from a second copy of the rules):
each distinct top-level condition becomes one column, each table's scope one column, each row one
column, so a predicate shared by many rows is evaluated once. The SQL compiler (sqlglot) and the
Polars compiler both walk this plan; they differ only in how a node is spelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcrc.facts.catalog import FACTS
from mcrc.knowledge.expr import And, Expr, conjuncts, facts_of
from mcrc.knowledge.model import KnowledgeBase, Row

# Row output sections whose codes are things a team *does* (compared with what was done).
ACTION_SECTIONS = ("first", "local")
REGIMEN_SECTIONS = ("regimens",)


@dataclass(frozen=True)
class RowPlan:
    id: str
    col: str  # column name of the row result (nullable boolean: TRUE fired, NULL possible)
    table: str
    default: bool
    conds: tuple[str, ...]  # condition column names, in row order
    codes: tuple[str, ...]  # every code the row outputs (the engine's recommended codes)
    actions: tuple[str, ...]  # action codes a team can carry out (strategy steps, first, local)
    regimens: tuple[str, ...]  # regimen codes (strategy steps, regimens section)
    # fact -> condition columns of this row that read it (for the facts a possible row needs)
    fact_conds: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def treats(self) -> bool:
        return bool(self.actions or self.regimens)


@dataclass(frozen=True)
class TablePlan:
    id: str
    col: str  # column of the table scope (nullable boolean)
    hit: str
    evidence: bool
    applies: str | None  # condition column of the scope (None: always applies)
    applies_facts: tuple[str, ...]
    rows: tuple[RowPlan, ...]

    @property
    def treats(self) -> bool:
        return any(r.treats for r in self.rows)


@dataclass(frozen=True)
class Plan:
    kb_version: str
    show_evidence: bool
    conditions: dict[str, Expr]  # condition column -> tree (distinct top-level conjuncts and scopes)
    tables: tuple[TablePlan, ...]
    facts: tuple[str, ...]  # facts the rules read, in catalog order
    codes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # code -> row columns outputting it

    @property
    def rows(self) -> tuple[RowPlan, ...]:
        return tuple(r for t in self.tables for r in t.rows)

    def row(self, row_id: str) -> RowPlan:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise KeyError(row_id)


def _treatment(row: Row) -> tuple[tuple[str, ...], tuple[str, ...]]:
    actions = {s.code for st in row.strategies for s in st.steps}
    regimens = {r for st in row.strategies for s in st.steps for r in s.regimens}
    for section in ACTION_SECTIONS:
        actions |= {o.code for o in row.outputs.get(section, ())}
    for section in REGIMEN_SECTIONS:
        regimens |= {o.code for o in row.outputs.get(section, ())}
    return tuple(sorted(actions)), tuple(sorted(regimens))


def build_plan(kb: KnowledgeBase, show_evidence: bool = True) -> Plan:
    """Flatten the knowledge base; column names are short and positional so every dialect accepts them."""
    names: dict[Expr, str] = {}

    def cond(e: Expr) -> str:
        if e not in names:
            names[e] = f"c{len(names)}"
        return names[e]

    tables: list[TablePlan] = []
    used: set[str] = set()
    codes: dict[str, list[str]] = {}
    n_rows = 0
    for ti, table in enumerate(kb.tables):
        applies = None if table.applies == And(()) else cond(table.applies)
        used |= facts_of(table.applies)
        rows: list[RowPlan] = []
        for row in table.rows:
            col = f"r{n_rows}"
            n_rows += 1
            parts = conjuncts(row.when)
            conds = tuple(cond(c) for c in parts)
            used |= facts_of(row.when)
            by_fact: dict[str, list[str]] = {}
            for c, name in zip(parts, conds, strict=True):
                for f in sorted(facts_of(c)):
                    by_fact.setdefault(f, []).append(name)
            actions, regimens = _treatment(row)
            rows.append(RowPlan(id=row.id, col=col, table=table.id, default=row.default, conds=conds,
                                codes=tuple(row.codes()), actions=actions, regimens=regimens,
                                fact_conds=tuple((f, tuple(v)) for f, v in sorted(by_fact.items()))))
            for code in row.codes():
                codes.setdefault(code, []).append(col)
        tables.append(TablePlan(id=table.id, col=f"t{ti}", hit=table.hit, evidence=table.evidence, applies=applies,
                                applies_facts=tuple(sorted(facts_of(table.applies))), rows=tuple(rows)))
    return Plan(kb_version=kb.version, show_evidence=show_evidence,
                conditions={v: k for k, v in names.items()}, tables=tuple(tables),
                facts=tuple(f for f in FACTS if f in used),
                codes={k: tuple(v) for k, v in sorted(codes.items())})
