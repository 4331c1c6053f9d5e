"""The checks of `mcrc verify`, each a satisfiability question over all patients (unknowns included).

A patient is any assignment of the fact variables within their domains that satisfies the declared
consistency constraints. A row *fires* when its table applies and its condition is TRUE (a default
row: when its table applies and no other row of the table is TRUE) - exactly the engine's rule.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from mcrc.knowledge.expr import facts_of
from mcrc.knowledge.model import KnowledgeBase, Row, Table
from mcrc.verify.safety import SafetyChecks
from mcrc.verify.solving import CheckResult, Failure

__all__ = ["CHECKS", "CheckResult", "Failure", "Verifier", "table_of"]


class Verifier(SafetyChecks):
    """Every check of `mcrc verify` (the safety ones in SafetyChecks, the solver in Solving)."""

    # --- the checks ----------------------------------------------------------------------------
    def check_consistency(self) -> CheckResult:
        res = CheckResult("consistency of facts", 1)
        if self.solver.check() != z3.sat:
            res.failures.append(Failure("consistency of facts", "constraints.yaml",
                                        "the declared constraints contradict each other: no patient exists"))
        for c in self.kb.constraints:
            res.questions += 1
            if not self.sat(self.enc.true(c.if_)):
                res.failures.append(Failure("consistency of facts", c.id,
                                            "this constraint can never apply (its `if` is impossible)"))
        return res

    def check_overlap(self) -> CheckResult:
        res = CheckResult("overlap (unique tables and goals)")
        for table in self.kb.tables:
            if table.hit != "unique":
                continue
            rows = [r for r in table.rows if not r.default]
            for i, a in enumerate(rows):
                for b in rows[i + 1:]:
                    res.questions += 1
                    goal = z3.And(self.fires(a), self.fires(b))
                    if self.sat(goal):
                        res.failures.append(self.failure("overlap", f"{a.id} + {b.id}",
                                                         f"two rows of unique table {table.id} fire together",
                                                         goal, [a, b]))
        goal_rows = [r for r in self.kb.rows.values() if "goal" in r.outputs]
        for i, a in enumerate(goal_rows):
            for b in goal_rows[i + 1:]:
                if self.table_of[a.id] is self.table_of[b.id] and self.table_of[a.id].hit == "unique":
                    continue
                res.questions += 1
                goal = z3.And(self.fires(a), self.fires(b))
                if self.sat(goal):
                    res.failures.append(self.failure("overlap", f"{a.id} + {b.id}",
                                                     "two rows set the goal for the same patient", goal, [a, b]))
        return res

    def check_reachability(self) -> CheckResult:
        res = CheckResult("reachability")
        for row in self.kb.rows.values():
            res.questions += 1
            if not self.sat(self.fires(row)):
                res.failures.append(Failure("reachability", row.id, "dead row: no consistent patient makes it fire"))
        return res

    def answer_rows(self) -> list[Row]:
        return [r for r in self.kb.rows.values() if r.strategies or "refer" in r.outputs]

    def check_completeness(self) -> CheckResult:
        res = CheckResult("completeness", 1)
        answers = self.answer_rows()
        goal = z3.Not(z3.Or([self.fires(r) for r in answers]))
        if self.sat(goal):
            res.failures.append(self.failure(
                "completeness", "all patients",
                "a consistent patient gets neither a strategy nor an explicit referral or out-of-scope answer",
                goal, [r for r in self.kb.rows.values() if r.default] + answers[:0]))
        return res

    def check_traceability(self) -> CheckResult:
        """The matrix against the tables (no solver): every guideline source has one, every statement is
        encoded or set aside with a reason, and every row, definition, invariant or caveat it names exists and
        cites the statement's source. Statements set aside as `open` are counted and named, not failed."""
        from mcrc.errors import KnowledgeError
        from mcrc.knowledge.trace import guideline_sources, trace_findings, unlisted_citations

        res = CheckResult("traceability")
        try:
            statements = self.kb.trace.statements()
        except KnowledgeError as exc:  # a malformed matrix file: each problem is a failure with its file:line
            res.failures += [Failure("traceability", p.where, p.message + (f" (allowed: {p.allowed})" if p.allowed
                                                                              else "")) for p in exc.problems]
            return res
        res.questions = len(guideline_sources(self.kb)) + sum(1 + len(s.targets()) for s in statements)
        res.failures += [Failure("traceability", f.subject, f.message) for f in trace_findings(self.kb)]
        still_open = [s.id for s in statements if s.status == "open"]
        res.counts = {"statements": len(statements), "open": len(still_open),
                      "citations_unlisted": sum(len(unlisted_citations(self.kb, s)) for s in self.kb.trace.sources)}
        res.notes = still_open
        return res

    def check_current_standard(self) -> CheckResult:
        """An approved newer option appears as the current standard only where its approved population holds.

        The engine shows a newer-evidence item first when its trial is fully approved (regular or traditional), an
        evidence row fired with a `differs` text for it, and the trial's indication (indications.yaml) is TRUE for
        the patient. This proves, over every consistent patient, that each such row fires only inside the
        indication: the rows alone already respect the approval, so the run-time gate never hides an item the
        rows show (and a row widened past the approved population is caught here with a counterexample). A fully
        approved item that differs in some row but has no indication is a failure: it could never be shown."""
        from mcrc.engine.current import fully_approved

        res = CheckResult("current standard")
        showing = 0
        for code, term in self.kb.vocabulary.terms["trials"].items():
            if not fully_approved(term):
                continue
            rows = [r for t in self.kb.tables if t.evidence for r in t.rows
                    if any(o.code == code and o.differs for o in r.outputs.get("evidence", ()))]
            if not rows:
                continue
            indication = self.kb.indications.get(code)
            res.questions += 1
            if indication is None:
                res.failures.append(Failure(
                    "current standard", code,
                    f"fully approved ({term.meta['approval']['kind']}) and differing from the guidelines in "
                    f"{', '.join(r.id for r in rows)}, but indications.yaml gives no approved population: it would "
                    "never be shown as the current standard"))
                continue
            showing += 1
            for row in rows:
                res.questions += 1
                goal = z3.And(self.fires(row), z3.Not(self.enc.true(indication.when)))
                if self.sat(goal):
                    # the counterexample: a patient plainly outside the population where one exists (else one the
                    # indication cannot place, some of its facts unknown)
                    outside = z3.And(self.fires(row), self.enc.tf(indication.when)[1])
                    goal = outside if self.sat(outside) else goal
                    res.failures.append(self.failure(
                        "current standard", f"{row.id} -> {code}",
                        f"the row shows {term.label} (fully approved, differing from the guidelines) for a patient "
                        f"outside its approved population ({indication.when.text()})", goal, [row],
                        also=frozenset(facts_of(indication.when))))
        res.counts = {"approved_items_shown_first": showing}
        return res


CHECKS: list[tuple[str, Callable[[Verifier], CheckResult]]] = [
    ("consistency", Verifier.check_consistency),
    ("overlap", Verifier.check_overlap),
    ("reachability", Verifier.check_reachability),
    ("completeness", Verifier.check_completeness),
    ("safety", Verifier.check_safety),
    ("presumptions", Verifier.check_presumptions),
    ("traceability", Verifier.check_traceability),
    ("current standard", Verifier.check_current_standard),
]


def table_of(kb: KnowledgeBase) -> dict[str, Table]:
    return {r.id: t for t in kb.tables for r in t.rows}
