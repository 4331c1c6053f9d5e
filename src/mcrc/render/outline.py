"""A renderer-neutral outline of an Assessment, so text and Markdown show the same things."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcrc.engine.assessment import Assessment, CitationOut, Currency, CurrentStandard, Item
from mcrc.knowledge import load_knowledge
from mcrc.knowledge.model import KnowledgeBase
from mcrc.render.structure import (
    SEVERITY_TITLE,
    SEVERITY_WORD,
    Fold,
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


@dataclass
class Entry:
    text: str
    cites: str = ""
    detail: list[str] = field(default_factory=list)
    review: str = ""  # whether the rows behind it were clinically reviewed (review_marker); "" for no rows


@dataclass
class Section:
    title: str
    entries: list[Entry]
    numbered: bool = False
    style: str = "default"  # default, warning, muted, summary
    columns: tuple[str, ...] = ()  # when set, entries are table rows: text cells joined by " | "


def caveat_lines(caveats) -> list[str]:
    """An option's caveats for this patient, each with its source: shown with the option, never dropped."""
    return [f"CAVEAT: {c.label}" + (f" [{cite_text(c.citations)}]" if c.citations else "") for c in caveats]


NOT_REVIEWED_TEXT = "not clinically reviewed"


def review_marker(a: Assessment, status: str, rows: list[str]) -> str:
    """Short words on whether the rows behind an item were clinically reviewed, for after its citation: "not
    clinically reviewed", "reviewed by <role> on <date>", "CONCERN raised by <role> on <date>", "partly reviewed"."""
    if status == "not_reviewed":
        return NOT_REVIEWED_TEXT
    found = [a.reviews[r] for r in rows if r in a.reviews]
    if status == "concern":
        rv = next((x for x in found if x.status == "concern"), None)
        return f"CONCERN raised by {rv.role} on {rv.date}" if rv else "CONCERN raised"
    reviewed = [x for x in found if x.status == "reviewed"]
    if status == "partly_reviewed":
        return f"partly reviewed: {len(reviewed)} of {len(rows)} rows, the others not clinically reviewed"
    latest = max(reviewed, key=lambda x: x.date, default=None)
    if latest is None:
        return "reviewed"
    if len(rows) == 1:
        return f"reviewed by {latest.role} on {latest.date}"
    return f"reviewed (all {len(rows)} rows), latest by {latest.role} on {latest.date}"


def concern_lines(a: Assessment, rows: list[str]) -> list[str]:
    """The comment of every concern raised on the rows behind an item: shown with the item, never dropped."""
    return [f"CONCERN ({rv.role}, {rv.date}): {rv.comment}" for r in rows
            if (rv := a.reviews.get(r)) is not None and rv.status == "concern"]


def _item(i: Item, a: Assessment, lead: str = "") -> Entry:
    text = lead + i.label + (f" ({i.note})" if i.note else "")
    return Entry(text=text, cites=cite_text(i.citations), review=review_marker(a, i.review, i.rows),
                 detail=caveat_lines(getattr(i, "caveats", ())) + concern_lines(a, i.rows))


MISSING_TITLE = "Missing information, most decisive first (what it would change)"


def step_text(st) -> str:
    """A step with its duration, interval, regimens (labels) and note: 'Preoperative systemic therapy [3 months]'."""
    extra = []
    if st.months:
        extra.append(f"{st.months:g} months")
    if st.max_months:
        extra.append(f"at most {st.max_months:g} months")
    if st.every_months:
        extra.append(f"every {st.every_months:g} months")
    if st.note:
        extra.append(st.note)
    return st.label + (f" [{'; '.join(extra)}]" if extra else "")


def _variant(r, a: Assessment | None = None) -> str:
    review = f" ({review_marker(a, r.review, r.rows)})" if a is not None and r.rows else ""
    cites = f" [{cite_text(r.citations)}]" if r.citations else ""
    return f"- {r.label}" + (f" ({r.note})" if r.note else "") + cites + review


def fold_lines(f: Fold, depth: int = 1, a: Assessment | None = None) -> list[str]:
    """A regimen entry as detail lines (two spaces of indent per level, the renderers' nesting): its title, its
    caveats (never behind the fold), its variants one level deeper."""
    pad, sub = "  " * depth, "  " * (depth + 1)
    lines = [f"{pad}- {f.title}: {f.why}"] if f.folded else [pad + _variant(f.members[0], a)]
    lines += [sub + c for c in _fold_caveats(f)]
    if f.folded:
        lines += [sub + _variant(r, a) for r in f.members]
    return lines


def _fold_caveats(f: Fold) -> list[str]:
    out = []
    for c, labels in f.caveats():
        on = f" (on {', '.join(labels)})" if f.folded else ""
        out.append(f"CAVEAT{on}: {c.label}" + (f" [{cite_text(c.citations)}]" if c.citations else ""))
    return out


def fold_entry(f: Fold, a: Assessment) -> Entry:
    """A regimen entry of the shared list: a single regimen as before; folded variants as one entry, its caveats
    on it, each variant an indented line with its own citation and review."""
    if not f.folded:
        return _item(f.members[0], a)
    rows = [r for m in f.members for r in m.rows]
    detail = _fold_caveats(f) + [_variant(r, a) for r in f.members]
    return Entry(text=f"{f.title}: {f.why}", detail=detail + concern_lines(a, rows))


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


def review_summary(a: Assessment) -> tuple[str, str]:
    """One line on the clinical review of the rows behind the answer, and its style."""
    counts = {"reviewed": 0, "concern": 0, "earlier_version": 0, "not_reviewed": 0}
    for rv in a.reviews.values():
        counts[rv.status] += 1
    n = len(a.reviews)
    if not n:
        return "", "muted"
    unreviewed = counts["not_reviewed"] + counts["earlier_version"]
    earlier = (f"; {counts['earlier_version']} reviewed only on an earlier version of the row"
               if counts["earlier_version"] else "")
    if counts["concern"]:
        return (f"CONCERN raised on {counts['concern']} of the {n} rows behind this answer (items marked CONCERN); "
                f"{counts['reviewed']} reviewed, {unreviewed} not clinically reviewed{earlier}", "warning")
    if counts["reviewed"] == n:
        return f"All {n} rows behind this answer clinically reviewed", "default"
    if counts["reviewed"] == 0:
        return f"Not clinically reviewed: none of the {n} rows behind this answer{earlier}", "muted"
    return (f"{counts['reviewed']} of the {n} rows behind this answer clinically reviewed, {unreviewed} not "
            f"(each item says which){earlier}", "muted")


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


def _month(m: float | None) -> str:
    return "?" if m is None else f"{m:g}"


def timeline_text(phases) -> str:
    """Compact month axis, shown only when the sources give at least one duration or interval."""
    if not any(p.duration in ("fixed", "up_to") or p.every_months for p in phases):
        return ""
    parts = []
    for p in phases:
        if p.duration == "event":
            span = f"m{_month(p.start_month)}"
        else:
            upto = "<=" if p.duration == "up_to" else ""
            span = f"m{_month(p.start_month)}-{upto}{_month(p.end_month)}"
        every = f" every {p.every_months:g} m" if p.every_months else ""
        parts.append(f"{span} {p.code}{every}")
    return "; ".join(parts)


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
