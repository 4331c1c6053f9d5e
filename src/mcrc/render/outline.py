"""A renderer-neutral outline of an Assessment, so text and Markdown show the same things."""

from __future__ import annotations

from mcrc.engine.assessment import Assessment
from mcrc.knowledge import load_knowledge
from mcrc.knowledge.model import KnowledgeBase
from mcrc.render.outline_entries import (
    NOT_REVIEWED_TEXT,
    Entry,
    Section,
    _item,
    caveat_lines,
    concern_lines,
    review_marker,
    review_summary,
)
from mcrc.render.outline_regimens import fold_entry, fold_lines, step_text, timeline_text
from mcrc.render.outline_standard import (
    CURRENCY_TITLE,
    CURRENT_STANDARD_TITLE,
    approval_text,
    currency_cites,
    currency_text,
    current_standard_head,
    current_standard_lines,
    guideline_basis_text,
    year_text,
)
from mcrc.render.structure import (
    SEVERITY_TITLE,
    SEVERITY_WORD,
    missing_information,
    regimen_groups,
    warnings_by_severity,
)
from mcrc.render.summary import (
    KIND_LABEL,
    SCOPE_TEXT,
    SUMMARY_TITLE,
    branch_lines,
    cite_text,
    strategy_head,
    summary_items,
)

# the outline's parts live in outline_entries, outline_regimens and outline_standard; every name the renderers,
# the web page, the FHIR answer and the CDS cards read is importable from here
__all__ = [
    "BRANCHES_TITLE", "CURRENCY_TITLE", "CURRENT_STANDARD_TITLE", "MISSING_TITLE", "NOT_REVIEWED_TEXT",
    "PROVISIONAL_TITLE", "SCOPE_TEXT",
    "Entry", "Section",
    "approval_text", "branch_lines", "branches_section", "caveat_lines", "cite_text", "concern_lines",
    "currency_cites", "currency_text", "current_standard_head", "current_standard_lines", "emergency_leads",
    "fold_entry", "fold_lines", "footer", "guideline_basis_text", "header", "outline", "provisional_section",
    "review_marker", "review_summary", "shown", "step_text", "summary_section", "timeline_text", "year_text",
]


MISSING_TITLE = "Missing information, most decisive first (what it would change)"


def emergency_leads(a: Assessment) -> bool:
    """A complication of the primary (bleeding, obstruction, perforation) is dealt with before anything else: its
    first steps lead every rendering, ahead even of the current standard (DESIGN's emergency-first rule)."""
    return any(i.code.startswith("emergency") for i in a.first_steps)


PROVISIONAL_TITLE = "PROVISIONAL ANSWER: it assumes what the case summary does not say (check each assumption)"
BRANCHES_TITLE = "To settle at this board: the answer turns on"


def shown(a: Assessment, strict: bool = False) -> Assessment:
    """The answer a renderer shows: the provisional one when there is one (unless `strict`), else the strict."""
    return a if strict or a.provisional is None else a.provisional.answer


def provisional_section(a: Assessment, strict: bool = False) -> Section | None:
    """The assumptions the provisional answer rests on, and what the strict answer says without them."""
    if a.provisional is None:
        return None
    if strict:
        n = len(a.provisional.assumptions)
        return Section("Strict answer (nothing assumed)", [Entry(
            f"A provisional answer assuming {n} unreported finding{'s' if n > 1 else ''} exists: "
            + "; ".join(x.assumed for x in a.provisional.assumptions) + " (shown without --strict).")], style="muted")
    entries = [Entry(text=f"assumed: {x.assumed}", cites=cite_text(x.citations), detail=[x.reason])
               for x in a.provisional.assumptions]
    goal = f"; goal: {a.goal.label}" if a.goal else ""
    entries.append(Entry(text=f"Strict answer, nothing assumed: {SCOPE_TEXT[a.scope.status]}{goal} "
                              "(`--strict` shows it in full)"))
    return Section(PROVISIONAL_TITLE, entries, style="warning")


def branches_section(a: Assessment) -> Section | None:
    if not a.branches:
        return None
    return Section(BRANCHES_TITLE, [Entry(text=b.question, detail=branch_lines(b)) for b in a.branches],
                   numbered=True, style="warning")


def summary_section(a: Assessment, strict: bool = False, kb: KnowledgeBase | None = None) -> Section:
    """The board summary of the answer shown (decision record 0037): one entry per item, its kind leading."""
    provisional = a.provisional if not strict else None
    items = summary_items(shown(a, strict), kb or load_knowledge(), provisional)
    return Section(SUMMARY_TITLE, [Entry(text=f"{KIND_LABEL[x['kind']]}: {x['text']}", cites=cite_text(x["cites"]),
                                         detail=list(x["detail"])) for x in items], style="summary")


def outline(a: Assessment, strict: bool = False, kb: KnowledgeBase | None = None,
            summary: bool = True) -> list[Section]:
    """The sections, in reading order, of the answer shown: the board summary first (after an emergency's first
    steps), then the provisional answer's assumptions when presumptions were used (`strict`: the strict answer,
    saying that a provisional one exists), then the answer in full. `summary=False` leaves the summary out."""
    head = provisional_section(a, strict)
    kb = kb or load_knowledge()
    board = summary_section(a, strict, kb) if summary else None
    a = shown(a, strict)
    sections: list[Section] = []
    urgent = emergency_leads(a)
    if urgent:
        sections.append(Section("First, before anything else", [_item(i, a) for i in a.first_steps],
                                style="warning"))
    if board is not None:
        sections.append(board)
    if head is not None:
        sections.append(head)
    if a.current_standard:  # first, beside (never instead of) the guideline answer that follows
        sections.append(Section(CURRENT_STANDARD_TITLE, [
            Entry(text=current_standard_head(cs), cites=cite_text(cs.citations),
                  review=review_marker(a, cs.review, cs.rows),
                  detail=current_standard_lines(cs) + caveat_lines(cs.caveats) + concern_lines(a, cs.rows))
            for cs in a.current_standard], style="warning"))
    if a.goal:
        sections.append(Section("Goal", [_item(a.goal, a)]))
    branching = branches_section(a)
    if branching is not None and a.scope.status != "in_scope":  # no definite route: what it turns on comes first
        sections.append(branching)
    if a.first_steps and not urgent:
        sections.append(Section("First, before anything else", [_item(i, a) for i in a.first_steps],
                                style="warning"))
    own, shared = regimen_groups(a, kb.vocabulary)
    if a.strategies:
        entries = []
        for n, s in enumerate(a.strategies, start=1):
            detail = [s.note] if s.note else []
            for i, st in enumerate(s.steps, start=1):
                detail.append(f"{i}. {step_text(st)}")
                detail += [f"  {line}" for line in caveat_lines(st.caveats)]
            if n in own:
                detail.append(f"{own[n].title}:")
                detail += [line for f in own[n].folds for line in fold_lines(f, 1, a)]
            elif shared is not None and n in shared.serves:
                detail.append(f"regimen: one of the {shared.count} {shared.title[0].lower()}{shared.title[1:]} "
                              "(below)")
            plan = timeline_text(s.timeline)
            if plan:
                detail.append(f"timeline: {plan}")
            detail += concern_lines(a, [s.row])
            entries.append(Entry(text=strategy_head(n, s), cites=cite_text(s.citations), detail=detail,
                                 review=review_marker(a, s.review, [s.row])))
        sections.append(Section("Strategies (alternatives, each in order)", entries, numbered=True))
    if a.local_treatment:
        sections.append(Section("Local treatment", [_item(i, a) for i in a.local_treatment]))
    if shared is not None:
        sections.append(Section(shared.title, [fold_entry(f, a) for f in shared.folds]))
    for severity, items in warnings_by_severity(a, kb):
        sections.append(Section(SEVERITY_TITLE[severity], [_item(i, a, SEVERITY_WORD[severity] + ": "
                                                                 if severity == "safety" else "") for i in items],
                                style={"safety": "warning", "caution": "muted", "note": "default"}[severity]))
    simple = [
        ("Tests still needed", a.tests, "default"),
        ("Work-up", a.workup, "default"),
        ("Prognostic factors", a.prognosis, "default"),
    ]
    for title, items, style in simple:
        if items:
            sections.append(Section(title, [_item(i, a) for i in items], style=style))
    if a.followup:
        entries = []
        for f in a.followup:
            when = f"every {f.every_months} months from month {f.from_month or 0} to month {f.until_month}"
            dates = ", ".join(d.isoformat() for d in f.dates)
            entries.append(Entry(text=f"{f.label}: {when}", cites=cite_text(f.citations),
                                 review=review_marker(a, f.review, f.rows),
                                 detail=([f"due: {dates}"] if dates else ["dates appear once the NED date is given"])
                                 + concern_lines(a, f.rows)))
        sections.append(Section("Follow-up", entries))
    if a.considerations:
        sections.append(Section("MDT considerations", [_item(i, a) for i in a.considerations]))
    if a.referrals:
        sections.append(Section("Referral", [_item(i, a) for i in a.referrals], style="warning"))
    if a.evidence:
        entries = []
        for ev in a.evidence:
            regs = f" [{', '.join(ev.regimens)}]" if ev.regimens else ""
            status = ev.regulatory_status and f"status: {ev.regulatory_status}"
            detail = [x for x in (ev.headline, status, ev.note) if x] + caveat_lines(ev.caveats)
            if ev.differs:
                detail.append(f"DIFFERS FROM THE GUIDELINES: {ev.differs}")
            detail += concern_lines(a, ev.rows)
            entries.append(Entry(text=f"{ev.label}{regs}", cites=cite_text(ev.citations), detail=detail,
                                 review=review_marker(a, ev.review, ev.rows)))
        sections.append(Section("Newer evidence (trials and approvals shown beside the guidelines, not part of them)",
                                entries, style="muted"))
    for topic in a.positions:
        if topic.agreement == "single":
            continue
        verdict = "sources agree" if topic.agreement == "agree" else "SOURCES DIFFER"
        entries = [Entry(text=f"{v.voice}: {v.stance_label}" + (f" ({v.summary})" if v.summary else ""),
                         cites=cite_text(v.citations), detail=[v.voice, v.stance_label, v.summary or ""],
                         review=review_marker(a, v.review, [v.row]))
                   for v in topic.views]
        sections.append(Section(f"Side by side - {topic.label} - {verdict}", entries,
                                style="default" if topic.agreement == "agree" else "warning",
                                columns=("Voice", "Position", "In short", "Source")))
    if a.currency:
        sections.append(Section(CURRENCY_TITLE, [Entry(text=currency_text(c), cites=cite_text(currency_cites(c)))
                                                 for c in a.currency], style="muted"))
    if branching is not None and a.scope.status == "in_scope":
        sections.append(branching)
    if a.unknown_facts:
        entries = [Entry(text=m.description, detail=[m.impact()]) for m in missing_information(a, kb)]
        sections.append(Section(MISSING_TITLE, entries, style="muted"))
    if a.derivation_notes:
        sections.append(Section("Notes on the input", [Entry(n) for n in a.derivation_notes], style="warning"))
    summary, style = review_summary(a)
    if summary:
        sections.append(Section("Clinical review of the rows", [Entry(summary)], style=style))
    return sections


def header(a: Assessment, strict: bool = False) -> str:
    who = f"Patient {a.patient_id}" if a.patient_id else "Patient"
    provisional = a.provisional is not None and not strict
    a = shown(a, strict)
    reason = f": {a.scope.reason}" if a.scope.reason else ""
    return f"{who} - {'PROVISIONAL: ' if provisional else ''}{SCOPE_TEXT[a.scope.status]}{reason}"


def footer(a: Assessment) -> str:
    p = a.provenance
    reviews = "the knowledge base's file and the case store" if "store" in p.reviews_from else \
        "the knowledge base's file"
    return (f"knowledge base {p.kb_version}, engine {p.engine_version}, newer evidence {p.newer_evidence}, "
            f"sources: {', '.join(p.sources) or 'none'}; review status from {reviews}; "
            f"rows fired: {len(a.fired_rows())}, possible: {len(a.possible)}")
