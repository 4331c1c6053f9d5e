"""Attach the caveats of caveats.yaml to the options of an Assessment, for this patient.

A caveat rule says: when a condition holds (Kleene TRUE), every regimen its selector picks carries a cited
warning (anti-EGFR for a right-sided tumour, combination chemotherapy for a patient unfit for it, an anti-EGFR
rechallenge). Rows stay per situation and are shared between patients; caveats are added here, per patient, as
follow-up dates are. Options with a caveat are then listed after those without, so the first option a board
reads is one no caveat qualifies. The `caveat` safety invariants check the result; the verifier proves the rules
cover them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from mcrc.engine.assessment import Caveat, EvidenceItem, RegimenItem, StrategyOut
from mcrc.engine.items import _cites
from mcrc.engine.selectors import _matches
from mcrc.facts.model import Facts
from mcrc.knowledge.compile_checks import compile_holding
from mcrc.knowledge.model import CaveatRule, KnowledgeBase
from mcrc.logic import Tri


def _caveat(kb: KnowledgeBase, rule: CaveatRule) -> Caveat:
    return Caveat(code=rule.code, label=kb.vocabulary.get("warnings", rule.code).label, rule=rule.id,
                  citations=_cites(rule.citations))


_HOLDING: dict[int, tuple[KnowledgeBase, tuple[CaveatRule, ...], Callable[[dict], list[int]]]] = {}


def active_rules(kb: KnowledgeBase, facts: Facts, compiled: bool = True) -> list[CaveatRule]:
    """The caveat rules whose `when` is TRUE on the facts, in the knowledge base's order: by code generated from
    the conditions' trees (once per knowledge base), or with `compiled=False` by each rule's interpreted check."""
    if not compiled:
        return [r for r in kb.caveats if r.when_check is not None and r.when_check(facts.values) is Tri.TRUE]
    hit = _HOLDING.get(id(kb))
    if hit is None or hit[0] is not kb:
        rules = tuple(r for r in kb.caveats if r.when_check is not None)
        hit = _HOLDING[id(kb)] = (kb, rules, compile_holding([r.when for r in rules], "caveats_holding"))
    rules = hit[1]
    return [rules[i] for i in hit[2](facts.values)]


def _picked(kb: KnowledgeBase, rule: CaveatRule, section: str, code: str, action_class: str | None,
            regimens: tuple[str, ...]) -> bool:
    return _matches(kb, rule.selector, (section, code, action_class, regimens))


def demotions(kb: KnowledgeBase, caveats: list[Caveat]) -> int:
    """How many of an option's caveats push it down the list (a reminder such as oxaliplatin re-exposure does
    not: the regimen stays where the guideline puts it)."""
    demoting = {r.id for r in kb.caveats if r.demote}
    return sum(c.rule in demoting for c in caveats)


def apply_caveats(kb: KnowledgeBase, facts: Facts, regimens: list[RegimenItem], strategies: list[StrategyOut],
                  evidence: list[EvidenceItem]) -> tuple[list[RegimenItem], list[StrategyOut], list[EvidenceItem]]:
    """New lists (the engine's items are shared between assessments and never modified)."""
    return apply_rules(kb, active_rules(kb, facts), regimens, strategies, evidence)


def apply_rules(kb: KnowledgeBase, rules: list[CaveatRule], regimens: list[RegimenItem],
                strategies: list[StrategyOut], evidence: list[EvidenceItem],
                ) -> tuple[list[RegimenItem], list[StrategyOut], list[EvidenceItem]]:
    """apply_caveats with the rules that hold for the patient already found: a pure function of the rules and the
    options (the engine reuses its result for the same options and rules)."""
    if not rules:
        return regimens, strategies, evidence

    def found(section: str, code: str, action_class: str | None, regs: tuple[str, ...]) -> list[Caveat]:
        return [_caveat(kb, r) for r in rules if _picked(kb, r, section, code, action_class, regs)]

    out_regimens = []
    for item in regimens:
        extra = [c for c in found("regimens", item.code, None, (item.code,)) if c not in item.caveats]
        out_regimens.append(replace(item, caveats=[*item.caveats, *extra]) if extra else item)
    out_regimens.sort(key=lambda item: demotions(kb, item.caveats))  # stable: fewest demoting caveats first
    out_strategies = []
    for st in strategies:
        steps, changed = [], False
        for step in st.steps:
            extra = [c for c in found("strategies", step.code, step.action_class, tuple(step.regimens))
                     if c not in step.caveats] if step.regimens else []
            steps.append(replace(step, caveats=[*step.caveats, *extra]) if extra else step)
            changed |= bool(extra)
        out_strategies.append(replace(st, steps=steps) if changed else st)
    out_evidence = []
    for ev in evidence:
        extra = [c for reg in ev.regimens for c in found("evidence", ev.code, None, (reg,))]
        unique = [c for i, c in enumerate(extra) if c not in extra[:i] and c not in ev.caveats]
        out_evidence.append(replace(ev, caveats=[*ev.caveats, *unique]) if unique else ev)
    return out_regimens, out_strategies, out_evidence
