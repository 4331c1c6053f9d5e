"""The per-row reference: one decision point through the engine (`mcrc.assess_facts`), then the
concordance rule of docs/cohort.md applied in plain Python to the engine's own row results and
`needs`. It is the slow path the benchmark compares against, and the tests' second implementation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcrc.cohort.plan import Plan
from mcrc.cohort.schema import DONE_ACTION, DONE_REGIMEN
from mcrc.engine import assess_facts, evaluate_rows
from mcrc.errors import HitPolicyViolation, SafetyViolation
from mcrc.facts.model import Facts
from mcrc.knowledge import KnowledgeBase
from mcrc.logic import Tri


@dataclass(frozen=True)
class Reference:
    hit: str | None  # table of a hit-policy violation (then nothing else is answered)
    fired: frozenset[str] = frozenset()
    possible: frozenset[str] = frozenset()
    codes: frozenset[str] | None = None  # None: the engine refused (safety violation)
    status: str = ""
    missing: frozenset[str] = frozenset()


def reference(kb: KnowledgeBase, plan: Plan, values: dict[str, Any], action: str | None, regimen: str | None,
              show_evidence: bool = True) -> Reference:
    """One engine evaluation (`assess_facts`) read back from the Assessment: its trace, `possible` rows
    with their `needs`, and `codes()`. Where the engine refuses an unsafe answer, the row results are
    taken from `evaluate_rows` instead (and no codes are given)."""
    facts = Facts(values=values)
    try:
        a = assess_facts(facts, kb, show_evidence=show_evidence, branch=False)  # the audit reads the answer only
    except HitPolicyViolation as exc:
        return Reference(hit=exc.table_id)
    except SafetyViolation:
        return _from_rows(kb, plan, values, action, regimen, show_evidence)
    needs = {p.row: set(p.needs) for p in a.possible}
    fired_ids = {rt.row for tt in a.trace for rt in tt.rows if rt.result == "fired"}
    fired = [plan.row(r) for r in fired_ids]
    opened = [(plan.row(r), n) for r, n in needs.items()]
    for tt in a.trace:
        if tt.applies == "unknown":  # a default row could fire once the scope is known
            table = kb.table(tt.table)
            unknown = {f for f in table.applies_facts if values.get(f) is None}
            opened += [(plan.row(rt.row), unknown) for rt in tt.rows if rt.default]
    status, missing = _status([r for r in fired if r.treats], [(r, n) for r, n in opened if r.treats],
                              action, regimen)
    return Reference(hit=None, fired=frozenset(fired_ids), possible=frozenset(needs), codes=frozenset(a.codes()),
                     status=status, missing=frozenset(missing))


def _from_rows(kb: KnowledgeBase, plan: Plan, values: dict[str, Any], action: str | None, regimen: str | None,
               show_evidence: bool) -> Reference:
    fired_ids, possible_ids = set(), set()
    fired: list[Any] = []
    opened: list[tuple[Any, set[str]]] = []
    for table, applies, results in evaluate_rows(kb, Facts(values=values), show_evidence):
        for rr in results or ():
            r = plan.row(rr.row.id)
            if rr.result is Tri.TRUE:
                fired_ids.add(rr.row.id)
                fired += [r] if r.treats else []
            elif rr.result is Tri.UNKNOWN:
                possible_ids.add(rr.row.id)
                opened += [(r, set(rr.unknown_facts))] if r.treats else []
            elif r.default and r.treats and applies is Tri.UNKNOWN:
                opened.append((r, {f for f in table.applies_facts if values.get(f) is None}))
    status, missing = _status(fired, opened, action, regimen)
    return Reference(hit=None, fired=frozenset(fired_ids), possible=frozenset(possible_ids), codes=None,
                     status=status, missing=frozenset(missing))


def _status(fired: list, opened: list, action: str | None, regimen: str | None) -> tuple[str, set[str]]:
    if not fired and not opened:
        return "not_covered", set()
    if action is None and regimen is None:
        return "not_decidable", {DONE_ACTION, DONE_REGIMEN}
    states = []
    missing: set[str] = set()
    for code, attr in ((action, "actions"), (regimen, "regimens")):
        if code is None:
            continue
        if any(code in getattr(r, attr) for r in fired):
            states.append("sup")
            continue
        why = [needs for r, needs in opened if code in getattr(r, attr)]
        states.append("open" if why else "none")
        for needs in why:
            missing |= needs
    if "none" in states:
        return "discordant", set()
    if all(s == "sup" for s in states):
        return "concordant", set()
    return "not_decidable", missing
