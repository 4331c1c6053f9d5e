"""The safety checks: the invariants asked per kind of invariant, and the presumptions proved against them."""

from __future__ import annotations

from collections.abc import Iterator

import z3

from mcrc.knowledge.model import Invariant, Row
from mcrc.verify.solving import CheckResult, Failure, Solving


class SafetyChecks(Solving):
    """The safety invariants over every row, and the presumptions that must keep them."""

    def check_safety(self) -> CheckResult:
        res = CheckResult("safety invariants")
        # newer evidence is shown beside the guidelines and never changes what they say
        from mcrc.knowledge.parse_tables import EVIDENCE_SECTIONS

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
