"""The board summary: what a tumour board reads first, the same in every renderer (issue 20, decision record 0037).

One line for the patient (as recorded and as derived, from the facts of the answer shown), the goal, the
recommended strategy with its regimens and its course in words, the alternatives, the current standard where it
differs, the assumptions of a provisional answer, what to settle at this board, and the safety warnings apart from
the cautions and notes. Every item keeps its citation; nothing here is new: it repeats, shorter, what the sections
below it say in full.
"""

from __future__ import annotations

from typing import Any

from mcrc.engine.assessment import Assessment, CitationOut, StrategyOut
from mcrc.knowledge import load_knowledge
from mcrc.knowledge.model import KnowledgeBase
from mcrc.render.structure import regimen_groups
from mcrc.render.summary_patient import patient_line
from mcrc.render.summary_safety import _others_text, _safety_and_others, _safety_section, safety_codes, safety_items

# the patient line lives in summary_patient, the safety items in summary_safety; the web page and the tests read
# them from here
__all__ = ["KIND_LABEL", "MAX_REGIMENS", "SCOPE_TEXT", "SUMMARY_TITLE", "branch_lines", "cite_text", "patient_line",
           "safety_beside", "safety_codes", "safety_items", "strategy_head", "strategy_regimens", "summary_items",
           "timeline_words"]

SUMMARY_TITLE = "Board summary"
SCOPE_TEXT = {
    "in_scope": "in scope",
    "refer_mdt": "refer to the MDT (no definite route yet)",
    "out_of_scope": "out of scope",
}
MAX_REGIMENS = 6  # regimen options named inline; the rest are counted (all are listed under "Regimen options")


def branch_lines(b) -> list[str]:
    """One line per outcome: 'yes -> Cure intent: ... (only here: FOLFOXIRI)'. When every value leads to the same
    goal (or to none), what all outcomes share is said once and each value's line says only what it adds (a board
    reads the difference, not the same sentence three times): a shared goal opens with 'for every value: <goal>:
    <what they share>'; without a goal the shared part is the answer shown, and is not repeated."""
    outs = b.outcomes
    goals = {o.goal for o in outs}
    if len(outs) < 2 or len(goals) != 1:
        lines = []
        for o in outs:
            only = [x for x in o.only_here if x not in o.summary]
            extra = f" (only here: {', '.join(only)})" if only else ""
            lines.append(f"{' / '.join(o.value_labels)} -> {o.summary}{extra}")
        return lines
    goal = outs[0].goal
    parts = [(o.summary[len(goal) + 2:] if goal and o.summary.startswith(f"{goal}: ") else o.summary).split("; ")
             for o in outs]
    common = [x for x in parts[0] if all(x in p for p in parts[1:])]
    shared = "; ".join(common)
    # the goal they share is worth saying (it may settle an undecided goal); without one, the shared part is the
    # answer shown above, and each line says what the value adds to it
    lines = [f"for every value: {goal}" + (f": {shared}" if shared else "")] if goal else []
    for o, p in zip(outs, parts, strict=True):
        text = "; ".join(x for x in p if x not in common)
        only = [x for x in o.only_here if x not in text]
        if only:
            text = f"{text} (only here: {', '.join(only)})" if text else f"also {', '.join(only)}"
        lines.append(f"{' / '.join(o.value_labels)} -> {text or 'no additions'}")
    return lines

def cite_text(cites: list[CitationOut]) -> str:
    """'source where fn footnote' joined by '; ' (the outline's short citation form)."""
    parts = []
    for c in cites:
        fn = "" if not c.footnote else f" {c.footnote}" if c.footnote.startswith("note") else f" fn {c.footnote}"
        parts.append(f"{c.source} {c.where}{fn}")
    return "; ".join(parts)


def _duration(p) -> str:
    if p.duration == "fixed" and p.start_month is not None and p.end_month is not None:
        return f"{p.end_month - p.start_month:g} months"
    if p.duration == "up_to" and p.start_month is not None and p.end_month is not None:
        return f"up to {p.end_month - p.start_month:g} months"
    return ""


def timeline_words(s: StrategyOut) -> str:
    """The strategy's course in words: 'Systemic therapy, then restage every 2 months'; durations where the
    sources give them, nothing invented where they do not."""
    parts = []
    phases = s.timeline or []
    for p in phases:
        extra = [x for x in (_duration(p), p.every_months and f"every {p.every_months:g} months") if x]
        parts.append(p.label + (f" ({', '.join(extra)})" if extra else ""))
    if not parts:
        for st in s.steps:
            extra = [x for x in (st.months and f"{st.months:g} months", st.max_months and
                                 f"up to {st.max_months:g} months") if x]
            parts.append(st.label + (f" ({', '.join(extra)})" if extra else ""))
    return ", then ".join(parts)


def strategy_regimens(a: Assessment, s: StrategyOut, kb: KnowledgeBase | None = None
                      ) -> tuple[list[str], int, list[CitationOut]]:
    """The regimen entries of a strategy: its steps' own regimens, or, for a strategy with a systemic step and none
    named, the options no strategy names; equivalent variants folded into one entry (decision record 0038), an
    entry with a caveat marked; the count of entries left out; their citations."""
    n = next(i for i, x in enumerate(a.strategies, start=1) if x is s) if any(x is s for x in a.strategies) else 0
    own, shared = regimen_groups(a, (kb or load_knowledge()).vocabulary)
    group = own.get(n) or (shared if shared is not None and n in shared.serves else None)
    folds = group.folds if group is not None else []
    labels, cites = [], []
    for f in folds[:MAX_REGIMENS]:
        labels.append(f.title + (" (caveat)" if f.caveats() else ""))
        for r in f.members:
            cites += [x for x in r.citations if x not in cites]
    return labels, max(0, len(folds) - MAX_REGIMENS), cites


def strategy_head(n: int, s: StrategyOut) -> str:
    """A strategy in one line: its label (every strategy has one, the loader requires it), else its steps."""
    return s.label or " -> ".join(st.label for st in s.steps)


def summary_items(a: Assessment, kb: KnowledgeBase, provisional=None) -> list[dict[str, Any]]:
    """The summary as a list of items, renderer-neutral: kind, text, citations, detail lines, and `section`: the
    anchor of the section below that says it in full (the web page's ids; "" for the patient line). The
    recommended item also carries its parts (`regimens`, `more`, `regimen_cites`, `course`) for renderers that
    lay them out themselves (the web card); its detail lines say the same in words. `a` is the answer shown;
    `provisional` the assumptions it rests on (None for a strict answer)."""
    items: list[dict[str, Any]] = [{"kind": "patient", "text": patient_line(a.facts), "cites": [], "detail": [],
                                    "section": ""}]
    if a.scope.status != "in_scope":
        reason = f": {a.scope.reason}" if a.scope.reason else ""
        items.append({"kind": "scope", "text": f"{SCOPE_TEXT[a.scope.status]}{reason}",
                      "cites": [], "detail": [], "section": "scope"})
    if a.goal:
        items.append({"kind": "goal", "text": a.goal.label, "cites": a.goal.citations, "detail": [],
                      "section": "goal"})
    if a.strategies:
        first = a.strategies[0]
        regs, more, reg_cites = strategy_regimens(a, first, kb)
        detail = []
        if regs:
            detail.append("regimens: " + ", ".join(regs) + (f" (+{more} more under Regimen options)" if more else "")
                          + (f" [{cite_text(reg_cites)}]" if reg_cites else ""))
        course = timeline_words(first)
        if course:
            detail.append(f"course: {course}")
        items.append({"kind": "recommended", "text": first.label or strategy_head(1, first),
                      "cites": first.citations, "detail": detail, "section": "strategies", "strategy": first.id,
                      "regimens": regs, "more": more, "regimen_cites": reg_cites, "course": course})
        for s in a.strategies[1:]:
            items.append({"kind": "alternative", "text": strategy_head(0, s), "cites": s.citations, "detail": [],
                          "section": "strategies", "strategy": s.id})
    elif a.referrals:
        for r in a.referrals:
            items.append({"kind": "referral", "text": r.label, "cites": r.citations, "detail": [],
                          "section": "referrals"})
    for cs in a.current_standard:
        items.append({"kind": "current_standard", "text": f"{cs.option} ({cs.trial}, {cs.approval.agency} "
                      f"{cs.approval.kind} approval{', ' + cs.approval.date if cs.approval.date else ''}); "
                      "the guideline answer differs", "cites": cs.citations, "detail": [],
                      "section": "current-standard"})
    for x in (provisional.assumptions if provisional is not None else []):
        items.append({"kind": "assumed", "text": x.assumed, "cites": x.citations, "detail": [],
                      "section": "provisional", "presumption": x.presumption})
    for b in a.branches:
        items.append({"kind": "settle", "text": b.question, "cites": [], "detail": branch_lines(b),
                      "section": "branches", "fact": b.fact})
    safety, others = _safety_and_others(a, kb)
    for code, text, cites in safety:
        items.append({"kind": "safety", "code": code, "text": text, "cites": cites, "detail": [],
                      "section": _safety_section(a, code, kb)})
    if any(others.values()):
        items.append({"kind": "other_warnings", "text": _others_text(others), "cites": [], "detail": [],
                      "section": "warnings" if others["caution"] or others["note"] else
                      "regimens" if regimen_groups(a, kb.vocabulary)[1] is not None else "strategies"})
    return items


KIND_LABEL = {
    "patient": "Patient", "scope": "Scope", "goal": "Goal", "recommended": "Recommended", "referral": "Referral",
    "alternative": "Alternative", "current_standard": "Current standard", "assumed": "ASSUMED",
    "settle": "To settle", "safety": "SAFETY", "other_warnings": "Also",
}


def safety_beside(items: list[dict[str, Any]]) -> bool:
    """On a wide screen the summary has two columns: the answer on the left, what to check and settle on the
    right. The safety warnings go under whichever of the two is shorter (in lines, roughly),
    so that the whole summary fits one screen; True: under the right one. A page of one column keeps the order of
    `summary_items`."""
    def lines(text: str) -> int:  # about 70 characters to a line of half a wide screen
        return 1 + len(text) // 70

    def weight(kinds: tuple[str, ...]) -> int:
        return sum(lines(x["text"]) + bool(x["cites"]) + sum(lines(d) for d in x["detail"])
                   for x in items if x["kind"] in kinds)
    side = weight(("assumed", "settle"))
    return 0 < side <= weight(("scope", "goal", "recommended", "alternative", "referral", "current_standard"))
