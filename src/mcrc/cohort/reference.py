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
    facts = Facts(values=values)
    try:
        evaluated = evaluate_rows(kb, facts, show_evidence)
    except HitPolicyViolation as exc:
        return Reference(hit=exc.table_id)
    try:
        codes: frozenset[str] | None = frozenset(assess_facts(facts, kb, show_evidence=show_evidence).codes())
    except SafetyViolation:
        codes = None
    fired_ids, possible_ids = set(), set()
    fired: list[Any] = []
    opened: list[tuple[Any, set[str]]] = []
    for table, applies, results in evaluated:
        for rr in results or ():
            if rr.result is Tri.TRUE:
                fired_ids.add(rr.row.id)
            elif rr.result is Tri.UNKNOWN:
                possible_ids.add(rr.row.id)
            r = plan.row(rr.row.id)
            if not r.treats:
                continue
            if rr.result is Tri.TRUE:
                fired.append(r)
            elif rr.result is Tri.UNKNOWN:
                opened.append((r, set(rr.unknown_facts)))
            elif r.default and applies is Tri.UNKNOWN:  # the default could fire once the scope is known
                opened.append((r, {f for f in table.applies_facts if values.get(f) is None}))
    status, missing = _status(fired, opened, action, regimen)
    return Reference(hit=None, fired=frozenset(fired_ids), possible=frozenset(possible_ids), codes=codes,
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
