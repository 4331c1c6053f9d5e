"""What a check reports (Failure, CheckResult) and the solver beneath every check: which rows fire, witnesses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import z3

from mcrc.knowledge.expr import facts_of
from mcrc.knowledge.model import Invariant, KnowledgeBase, Row
from mcrc.verify.encode import Encoder
from mcrc.verify.realise import reproduce


@dataclass
class Failure:
    check: str
    subject: str
    message: str
    facts: dict[str, Any] = field(default_factory=dict)
    patient: dict | None = None
    not_reproduced: list[str] = field(default_factory=list)


@dataclass
class CheckResult:
    name: str
    questions: int = 0
    failures: list[Failure] = field(default_factory=list)
    # what a check reports besides failures (traceability: the statements still open)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Solving:
    """The solver over all patients: the constraints, which rows fire, satisfiability and counterexamples."""

    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self.enc = Encoder()
        self.base = [*self.enc.domain]
        for c in kb.constraints:
            self.base.append(z3.Implies(self.enc.true(c.if_), self.enc.true(c.then)))
        self.solver = z3.Solver()
        self.solver.add(self.base)
        self.table_of = {r.id: t for t in kb.tables for r in t.rows}
        self._fires: dict[str, z3.BoolRef] = {}

    # --- what fires ----------------------------------------------------------------------------
    def row_true(self, row: Row) -> z3.BoolRef:
        return self.enc.true(row.when)

    def fires(self, row: Row) -> z3.BoolRef:
        if row.id not in self._fires:
            table = self.table_of[row.id]
            applies = self.enc.true(table.applies)
            if row.default:
                others = [self.row_true(r) for r in table.rows if not r.default]
                self._fires[row.id] = z3.And(applies, z3.Not(z3.Or(others)) if others else z3.BoolVal(True))
            else:
                self._fires[row.id] = z3.And(applies, self.row_true(row))
        return self._fires[row.id]

    def relevant(self, rows: list[Row]) -> set[str]:
        out: set[str] = set()
        for r in rows:
            table = self.table_of[r.id]
            out |= facts_of(table.applies) | facts_of(r.when)
            if r.default:
                for other in table.rows:
                    out |= facts_of(other.when)
        return out

    # --- solving -------------------------------------------------------------------------------
    def witness(self, goal: z3.BoolRef) -> dict[str, Any] | None:
        """A patient satisfying `goal`, or None. Only called on failures: keeps as many facts unknown
        as possible, so the counterexample shows just what matters."""
        self.solver.push()
        self.solver.add(goal)
        result = self.solver.check()
        self.solver.pop()
        if result != z3.sat:
            return None
        opt = z3.Optimize()
        opt.set("timeout", 5000)
        opt.add(self.base)
        opt.add(goal)
        for fv in self.enc.vars.values():
            opt.add_soft(z3.Not(fv.known))
        if opt.check() == z3.sat:
            return self.enc.decode(opt.model())
        self.solver.push()
        self.solver.add(goal)
        self.solver.check()
        model = self.solver.model()
        self.solver.pop()
        return self.enc.decode(model)

    def sat(self, goal: z3.BoolRef) -> bool:
        self.solver.push()
        self.solver.add(goal)
        result = self.solver.check()
        self.solver.pop()
        return result == z3.sat

    def failure(self, check: str, subject: str, message: str, goal: z3.BoolRef, rows: list[Row],
                inv: Invariant | None = None, also: frozenset[str] = frozenset()) -> Failure:
        """`also`: facts beyond the rows' (and the invariant's) that the counterexample must reproduce."""
        facts = self.witness(goal) or {}
        relevant = self.relevant(rows) | also
        if inv is not None:  # the facts that make the invariant bite are part of the counterexample
            for cond in (inv.when, inv.unless, inv.exempt_when):
                relevant |= facts_of(cond) if cond is not None else set()
        patient, mismatched = reproduce(facts, relevant) if facts else (None, [])
        shown = {k: facts[k] for k in sorted(relevant) if facts.get(k) is not None}
        return Failure(check, subject, message, shown, patient, mismatched)
