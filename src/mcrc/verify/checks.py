"""The checks of `mcrc verify`, each a satisfiability question over all patients (unknowns included).

A patient is any assignment of the fact variables within their domains that satisfies the declared
consistency constraints. A row *fires* when its table applies and its condition is TRUE (a default
row: when its table applies and no other row of the table is TRUE) - exactly the engine's rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import z3

from mcrc.knowledge.expr import facts_of
from mcrc.knowledge.model import Invariant, KnowledgeBase, Row, Table
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


class Verifier:
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

    def check_safety(self) -> CheckResult:
        res = CheckResult("safety invariants")
        # newer evidence is shown beside the guidelines and never changes what they say
        from mcrc.knowledge.loader import EVIDENCE_SECTIONS

        for table in self.kb.tables:
            if not table.evidence:
                continue
            for row in table.rows:
                res.questions += 1
                wrong = (set(row.outputs) - EVIDENCE_SECTIONS) | ({"strategies"} if row.strategies else set())
                if wrong:
                    res.failures.append(Failure("safety", f"evidence_beside_guidelines: {row.id}",
                                                f"a newer-evidence row outputs {', '.join(sorted(wrong))}"))
                # a trial whose US decision is pending is shown as a result, never as an option (decision 0032)
                for item in row.outputs.get("evidence", ()):
                    term = self.kb.vocabulary.get("trials", item.code)
                    if (term.meta.get("approval") or {}).get("kind") != "pending":
                        continue
                    res.questions += 1
                    if term.meta.get("regimens") or item.differs or "pending" not in str(term.meta.get("status")):
                        res.failures.append(Failure(
                            "safety", f"pending_never_approved: {row.id} -> {item.code}",
                            "a trial awaiting a US decision is shown with a regimen, as differing from the guidelines "
                            "or without 'pending' in its status"))
        for inv in self.kb.invariants:
            for question in self._safety_questions(inv):
                res.questions += 1
                subject, message, goal, rows = question
                if goal is None:
                    res.failures.append(Failure("safety", f"{inv.id}: {subject}", message))
                elif self.sat(goal):
                    res.failures.append(self.failure("safety", f"{inv.id}: {subject}", message, goal, rows, inv))
        return res

    def check_presumptions(self) -> CheckResult:
        """Presumptions (decision record 0034): each keeps the policy (only the two kinds, never a biomarker,
        resectability, fitness, burden or wish), can be used on some patient the constraints allow, and no safety
        invariant can be broken by an answer made with it: every violation the safety check asks about stays
        impossible with the presumed facts pinned (the provisional answers are proved, not only the strict)."""
        from mcrc.knowledge.expr import Eq
        from mcrc.knowledge.presumptions import policy_problems

        res = CheckResult("presumptions")
        questions = [q for inv in self.kb.invariants for q in self._safety_questions(inv) if q[2] is not None]
        for p in self.kb.presumptions:
            res.questions += 1
            problems = policy_problems(p)
            res.failures += [Failure("presumptions", p.id, problem) for problem in problems]
            if problems:
                continue
            settled = [Eq(f, p.value) for f in p.facts] if p.kind == "reported_when_present" else \
                [Eq("systemic_history_known", True), Eq("lines_received", 0)]
            pinned = z3.And(self.enc.true(p.when), *[self.enc.true(e) for e in settled])
            res.questions += 1
            if not self.sat(pinned):
                res.failures.append(Failure("presumptions", p.id, "no patient the constraints allow can use it"))
                continue
            for subject, message, goal, rows in questions:
                res.questions += 1
                both = z3.And(goal, pinned)
                if self.sat(both):
                    res.failures.append(self.failure("presumptions", f"{p.id}: {subject}", message, both, rows))
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

    # --- safety, per invariant kind ------------------------------------------------------------
    def _active(self, inv: Invariant) -> z3.BoolRef:
        parts = []
        if inv.when is not None:
            parts.append(self.enc.true(inv.when))
        if inv.unless is not None:
            parts.append(z3.Not(self.enc.true(inv.unless)))
        return z3.And(parts) if parts else z3.BoolVal(True)

    def _row_entries(self, row: Row) -> Iterator[tuple[str, str, str | None, tuple[str, ...]]]:
        vocab = self.kb.vocabulary
        for st in row.strategies:
            for s in st.steps:
                yield ("strategies", s.code, vocab.get("actions", s.code).klass, s.regimens)
        for section, name in (("first", "first_steps"), ("local", "local_treatment")):
            for item in row.outputs.get(section, ()):
                yield (name, item.code, vocab.get("actions", item.code).klass, ())
        for item in row.outputs.get("regimens", ()):
            yield ("regimens", item.code, None, (item.code,))
        for item in row.outputs.get("evidence", ()):
            regimens = vocab.get("trials", item.code).meta.get("regimens", [])
            for reg in regimens:
                yield ("evidence", item.code, None, (reg,))
            if not regimens:  # as the run-time check: a trial without a regimen is seen by `code` selectors
                yield ("evidence", item.code, None, ())

    def _matches(self, inv: Invariant, entry) -> bool:
        from mcrc.engine.safety import _matches  # the run-time check's own selector logic

        return _matches(self.kb, inv.selector, entry)

    def _safety_questions(self, inv: Invariant):
        vocab = self.kb.vocabulary
        if inv.kind == "forbid":
            for row in self.kb.rows.values():
                for entry in self._row_entries(row):
                    if not self._matches(inv, entry):
                        continue
                    goal = z3.And(self.fires(row), self._active(inv))
                    regs = entry[3]
                    if inv.exempt_classes and regs and all(vocab.regimen_drug_classes(r) & set(inv.exempt_classes)
                                                          for r in regs):
                        goal = z3.And(goal, z3.Not(self.enc.true(inv.exempt_when)))
                    yield (f"{row.id} -> {entry[1]}", f"{inv.text}", goal, [row])
        elif inv.kind == "require":
            providers = [r for r in self.kb.rows.values() if any(self._matches(inv, e) for e in self._row_entries(r))]
            goal = z3.And(self._active(inv), z3.Not(z3.Or([self.fires(r) for r in providers])) if providers
                          else z3.BoolVal(True))
            yield ("no row provides it", inv.text, goal, providers)
        elif inv.kind == "max_months":
            for row in self.kb.rows.values():
                for i, st in enumerate(row.strategies, start=1):
                    total = sum(s.months or s.max_months or 0 for s in st.steps
                                if vocab.get("actions", s.code).klass in inv.classes)
                    if total > inv.limit:
                        yield (f"{row.id}#{i}", f"{inv.text}: {total:g} months", None, [row])
        elif inv.kind == "caveat":
            from mcrc.engine.safety import _matches

            for row in self.kb.rows.values():
                for entry in self._row_entries(row):
                    if (entry[0] == "strategies" and not entry[3]) or not self._matches(inv, entry):
                        continue
                    covering = [self.enc.true(rule.when) for rule in self.kb.caveats
                                if rule.code == inv.caveat_code and _matches(self.kb, rule.selector, entry)]
                    goal = z3.And(self.fires(row), self._active(inv), z3.Not(z3.Or(covering)) if covering
                                  else z3.BoolVal(True))
                    yield (f"{row.id} -> {entry[1]}", f"{inv.text} (no caveat rule covers it)", goal, [row])
        elif inv.kind == "forbid_together":
            for row in self.kb.rows.values():
                for entry in self._row_entries(row):
                    for reg in entry[3]:
                        if set(inv.classes) <= vocab.regimen_drug_classes(reg):
                            yield (f"{row.id} -> {reg}", inv.text, None, [row])


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
