"""Check an Assessment against the safety invariants declared in knowledge/data/safety.yaml.

The same declarative invariants are checked here at run time (fail closed: an unsafe answer is
never returned) and, later, proved over all patients by the verifier.
"""

from __future__ import annotations

from collections.abc import Iterator

from mcrc.engine.assessment import Assessment
from mcrc.engine.caveats import demotions
from mcrc.engine.selectors import Entry, _matches
from mcrc.errors import Problem
from mcrc.facts.model import Facts
from mcrc.knowledge.model import Invariant, KnowledgeBase
from mcrc.logic import Tri


def _entries(a: Assessment) -> Iterator[Entry]:
    for s in a.strategies:
        for st in s.steps:
            yield ("strategies", st.code, st.action_class, tuple(st.regimens))
    for item in a.first_steps:
        yield ("first_steps", item.code, None, ())
    for item in a.local_treatment:
        yield ("local_treatment", item.code, None, ())
    for item in a.regimens:
        yield ("regimens", item.code, None, (item.code,))
    for ev in a.evidence:
        for reg in ev.regimens:
            yield ("evidence", ev.code, None, (reg,))
        if not ev.regimens:  # a trial without a regimen (a local-treatment trial): a `code` selector still sees it
            yield ("evidence", ev.code, None, ())


def _active(inv: Invariant, facts: Facts) -> bool:
    if inv.when_check is not None and inv.when_check(facts.values) is not Tri.TRUE:
        return False
    return not (inv.unless_check is not None and inv.unless_check(facts.values) is Tri.TRUE)


def _exempt(kb: KnowledgeBase, inv: Invariant, regimens: tuple[str, ...], facts: Facts) -> bool:
    if not inv.exempt_classes or inv.exempt_check(facts.values) is not Tri.TRUE:
        return False
    return all(kb.vocabulary.regimen_drug_classes(r) & set(inv.exempt_classes) for r in regimens) and bool(regimens)


def check_invariant(kb: KnowledgeBase, inv: Invariant, a: Assessment, facts: Facts,
                    entries: list[Entry] | None = None) -> list[str]:
    """Return human-readable violations of one invariant (empty when it holds). `entries`: `_entries(a)`,
    when the caller checks several invariants against the same Assessment."""
    if not _active(inv, facts):
        return []
    if entries is None:
        entries = list(_entries(a))
    if inv.kind == "forbid":
        return [f"{code} in {section}" for section, code, cls, regs in entries
                if _matches(kb, inv.selector, (section, code, cls, regs)) and not _exempt(kb, inv, regs, facts)]
    if inv.kind == "require":
        if any(_matches(kb, inv.selector, e) for e in entries):
            return []
        return ["required item missing"]
    if inv.kind == "max_months":
        bad = []
        for s in a.strategies:
            total = sum((st.months or st.max_months or 0) for st in s.steps if st.action_class in inv.classes)
            if total > inv.limit:
                bad.append(f"strategy {s.id} totals {total:g} months")
        return bad
    if inv.kind == "caveat":
        return _caveat_violations(kb, inv, a)
    if inv.kind == "forbid_together":
        bad = []
        for section, code, _cls, regs in entries:
            classes: set[str] = set()
            for reg in regs:
                classes |= kb.vocabulary.regimen_drug_classes(reg)
            if set(inv.classes) <= classes:
                bad.append(f"{code} in {section} combines {', '.join(inv.classes)}")
        return bad
    return []


def _caveat_violations(kb: KnowledgeBase, inv: Invariant, a: Assessment) -> list[str]:
    """Every option the selector picks carries the caveat, and no regimen with a caveat precedes one without."""
    bad = []
    carriers = [("regimens", r.code, None, (r.code,), r.caveats) for r in a.regimens]
    carriers += [("strategies", st.code, st.action_class, tuple(st.regimens), st.caveats)
                 for s in a.strategies for st in s.steps if st.regimens]
    carriers += [("evidence", ev.code, None, (reg,), ev.caveats) for ev in a.evidence for reg in ev.regimens]
    for section, code, cls, regs, caveats in carriers:
        if _matches(kb, inv.selector, (section, code, cls, regs)) and inv.caveat_code not in {c.code for c in caveats}:
            bad.append(f"{code} in {section} lacks the caveat {inv.caveat_code}")

    seen_caveat = False
    for r in a.regimens:
        mine = [c for c in r.caveats if c.code == inv.caveat_code]
        if mine and demotions(kb, mine):
            seen_caveat = True
        elif seen_caveat and not demotions(kb, r.caveats):
            bad.append(f"{r.code} (no caveat) is listed after an option with the caveat {inv.caveat_code}")
    return bad


def _static_clear(kb: KnowledgeBase, inv: Invariant, entries: tuple[Entry, ...]) -> bool:
    """Whether an invariant holds for these entries whatever the patient's facts: a `forbid` whose selector picks
    none of them, a `forbid_together` none of whose entries holds all its classes, a `require` one of whose
    entries its selector picks. Every other invariant (and these, when not clear) is checked against the facts."""
    if inv.kind == "forbid":
        return not any(_matches(kb, inv.selector, e) for e in entries)
    if inv.kind == "forbid_together":
        wanted = set(inv.classes)
        for _section, _code, _cls, regs in entries:
            classes: set[str] = set()
            for reg in regs:
                classes |= kb.vocabulary.regimen_drug_classes(reg)
            if wanted <= classes:
                return False
        return True
    if inv.kind == "require":
        return any(_matches(kb, inv.selector, e) for e in entries)
    return False


_PLANS: dict[tuple, tuple[KnowledgeBase, tuple[Invariant, ...]]] = {}


def _to_check(kb: KnowledgeBase, entries: tuple[Entry, ...]) -> tuple[Invariant, ...]:
    """The invariants that depend on the patient for these entries (the others hold: `_static_clear`), resolved
    once per set of entries: the same recommendations recur across patients, their facts do not."""
    key = (id(kb), entries)
    hit = _PLANS.get(key)
    if hit is None or hit[0] is not kb:
        if len(_PLANS) > 20_000:
            _PLANS.clear()
        hit = _PLANS[key] = (kb, tuple(inv for inv in kb.invariants if not _static_clear(kb, inv, entries)))
    return hit[1]


def check_safety(kb: KnowledgeBase, a: Assessment, facts: Facts, reference: bool = False) -> list[Problem]:
    """Every invariant over the Assessment, in knowledge-base order. The invariants that cannot fail for its
    recommendations whatever the facts are skipped (resolved once per set of recommendations); each of the others
    is checked in full by `check_invariant`, which gives the message. `reference=True` checks every invariant in
    full (tests prove both give the same violations)."""
    problems = []
    entries = tuple(_entries(a))
    listed = list(entries)
    for inv in (kb.invariants if reference else _to_check(kb, entries)):
        for v in check_invariant(kb, inv, a, facts, listed):
            problems.append(Problem(inv.id, f"{inv.text}: {v}"))
    return problems
