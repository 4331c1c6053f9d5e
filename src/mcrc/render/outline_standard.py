"""The current standard beside the guideline answer, and the guidelines' currency, as text for every renderer."""

from __future__ import annotations

from mcrc.engine.assessment import CitationOut, Currency, CurrentStandard
from mcrc.knowledge import load_knowledge

CURRENT_STANDARD_TITLE = ("Current standard: an approved newer option differs from the guideline answer "
                          "(shown beside it, not instead of it)")
CURRENCY_TITLE = "Guideline currency (newer editions known; nothing in this answer is taken from them)"


def year_text(year: int | None) -> str:
    return str(year) if year is not None else "year not stated"


def approval_text(cs: CurrentStandard) -> str:
    """'FDA regular approval, 2020-06'."""
    ap = cs.approval
    return f"{ap.agency} {ap.kind} approval" + (f", {ap.date}" if ap.date else "")


def guideline_basis_text(cs: CurrentStandard) -> str:
    """The guideline sources behind the guideline answer, each with its year: 'cvir-2019-palliative, 2019'."""
    return "; ".join(f"{s.source}, {year_text(s.year)}" for s in cs.guideline.sources) or "the guideline sources here"


def current_standard_head(cs: CurrentStandard) -> str:
    return f"{cs.option} ({cs.trial}): {approval_text(cs)}"


def current_standard_lines(cs: CurrentStandard) -> list[str]:
    """The detail of a current-standard item, the same in every renderer."""
    lines = []
    if cs.approval.indication:
        lines.append(f"approved for: {cs.approval.indication}")
    lines.append(f"the guideline answer ({guideline_basis_text(cs)}) differs: {cs.guideline.says}")
    if cs.guideline.regimens:
        vocab = load_knowledge().vocabulary
        names = [vocab.get("regimens", c).label if vocab.has("regimens", c) else c for c in cs.guideline.regimens]
        lines.append(f"guideline regimen options for this patient (unchanged): {', '.join(names)}")
    src = f"{cs.source} item {cs.item}" if cs.item is not None else cs.source
    lines.append(f"newer evidence, {src}" + (f"; seen: {', '.join(cs.seen)}" if cs.seen else ""))
    return lines


def currency_text(c: Currency) -> str:
    """One short line per guideline source: its year and the newer editions known ('check the current text')."""
    parts = [f"{c.note[0].upper()}{c.note[1:]}." if c.note else ""]
    for relation, word in (("edition", "Newer edition"), ("later_guideline", "Later guideline")):
        names = [n.name for n in c.newer if n.relation == relation]
        if names:
            parts.append(f"{word}{'s' if len(names) > 1 else ''} {'exist' if len(names) > 1 else 'exists'}: "
                         f"{'; '.join(names)}.")
    parts.append("Check the current text." if c.newer else "No newer edition known.")
    return f"{c.source} ({year_text(c.year)}): " + " ".join(p for p in parts if p)


def currency_cites(c: Currency) -> list[CitationOut]:
    out: list[CitationOut] = []
    for n in c.newer:
        out += [x for x in n.citations if x not in out]
    return out
