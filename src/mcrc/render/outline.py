"""A renderer-neutral outline of an Assessment, so text and Markdown show the same things."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcrc.engine.assessment import Assessment, CitationOut, Item

SCOPE_TEXT = {
    "in_scope": "in scope",
    "refer_mdt": "refer to the MDT (no definite route yet)",
    "out_of_scope": "out of scope",
}


@dataclass
class Entry:
    text: str
    cites: str = ""
    detail: list[str] = field(default_factory=list)


@dataclass
class Section:
    title: str
    entries: list[Entry]
    numbered: bool = False
    style: str = "default"  # default, warning, muted
    columns: tuple[str, ...] = ()  # when set, entries are table rows: text cells joined by " | "


def cite_text(cites: list[CitationOut]) -> str:
    parts = []
    for c in cites:
        fn = "" if not c.footnote else f" {c.footnote}" if c.footnote.startswith("note") else f" fn {c.footnote}"
        parts.append(f"{c.source} {c.where}{fn}")
    return "; ".join(parts)


def caveat_lines(caveats) -> list[str]:
    """An option's caveats for this patient, each with its source: shown with the option, never dropped."""
    return [f"CAVEAT: {c.label}" + (f" [{cite_text(c.citations)}]" if c.citations else "") for c in caveats]


def _item(i: Item) -> Entry:
    text = i.label + (f" ({i.note})" if i.note else "")
    return Entry(text=text, cites=cite_text(i.citations), detail=caveat_lines(getattr(i, "caveats", ())))


def outline(a: Assessment) -> list[Section]:
    sections: list[Section] = []
    if a.goal:
        sections.append(Section("Goal", [_item(a.goal)]))
    if a.first_steps:
        sections.append(Section("First, before anything else", [_item(i) for i in a.first_steps], style="warning"))
    if a.strategies:
        entries = []
        for s in a.strategies:
            steps = []
            for st in s.steps:
                extra = []
                if st.months:
                    extra.append(f"{st.months:g} months")
                if st.max_months:
                    extra.append(f"at most {st.max_months:g} months")
                if st.regimens:
                    extra.append("/".join(st.regimens))
                if st.note:
                    extra.append(st.note)
                steps.append(st.label + (f" [{'; '.join(extra)}]" if extra else ""))
            head = f"{s.label}: " if s.label else ""
            detail = [s.note] if s.note else []
            for st in s.steps:
                detail += [f"{st.label}: {line}" for line in caveat_lines(st.caveats)]
            plan = timeline_text(s.timeline)
            if plan:
                detail.append(f"timeline: {plan}")
            entries.append(Entry(text=head + " -> ".join(steps), cites=cite_text(s.citations), detail=detail))
        sections.append(Section("Strategies (alternatives, each in order)", entries, numbered=True))
    simple = [
        ("Local treatment", a.local_treatment, "default"),
        ("Regimen options", a.regimens, "default"),
        ("Warnings", a.warnings, "warning"),
        ("Tests still needed", a.tests, "default"),
        ("Work-up", a.workup, "default"),
        ("Prognostic factors", a.prognosis, "default"),
    ]
    for title, items, style in simple:
        if items:
            sections.append(Section(title, [_item(i) for i in items], style=style))
    if a.followup:
        entries = []
        for f in a.followup:
            when = f"every {f.every_months} months from month {f.from_month or 0} to month {f.until_month}"
            dates = ", ".join(d.isoformat() for d in f.dates)
            entries.append(Entry(text=f"{f.label}: {when}", cites=cite_text(f.citations),
                                 detail=[f"due: {dates}"] if dates else ["dates appear once the NED date is given"]))
        sections.append(Section("Follow-up", entries))
    if a.considerations:
        sections.append(Section("MDT considerations", [_item(i) for i in a.considerations]))
    if a.referrals:
        sections.append(Section("Referral", [_item(i) for i in a.referrals], style="warning"))
    if a.evidence:
        entries = []
        for ev in a.evidence:
            regs = f" [{', '.join(ev.regimens)}]" if ev.regimens else ""
            status = ev.regulatory_status and f"status: {ev.regulatory_status}"
            detail = [x for x in (ev.headline, status, ev.note) if x] + caveat_lines(ev.caveats)
            if ev.differs:
                detail.append(f"DIFFERS FROM THE GUIDELINES: {ev.differs}")
            entries.append(Entry(text=f"{ev.label}{regs}", cites=cite_text(ev.citations), detail=detail))
        sections.append(Section("Newer evidence (trials and approvals shown beside the guidelines, not part of them)",
                                entries, style="muted"))
    for topic in a.positions:
        if topic.agreement == "single":
            continue
        verdict = "sources agree" if topic.agreement == "agree" else "SOURCES DIFFER"
        entries = [Entry(text=f"{v.voice}: {v.stance_label}" + (f" ({v.summary})" if v.summary else ""),
                         cites=cite_text(v.citations), detail=[v.voice, v.stance_label, v.summary or ""])
                   for v in topic.views]
        sections.append(Section(f"Side by side - {topic.label} - {verdict}", entries,
                                style="default" if topic.agreement == "agree" else "warning",
                                columns=("Voice", "Position", "In short", "Source")))
    if a.unknown_facts:
        entries = [Entry(text=f"{u.fact}: {u.description}", detail=[f"decides: {', '.join(u.rows)}"])
                   for u in a.unknown_facts]
        sections.append(Section("Unknown facts that would change the answer", entries, style="muted"))
    if a.derivation_notes:
        sections.append(Section("Notes on the input", [Entry(n) for n in a.derivation_notes], style="warning"))
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


def header(a: Assessment) -> str:
    who = f"Patient {a.patient_id}" if a.patient_id else "Patient"
    reason = f": {a.scope.reason}" if a.scope.reason else ""
    return f"{who} - {SCOPE_TEXT[a.scope.status]}{reason}"


def footer(a: Assessment) -> str:
    p = a.provenance
    return (f"knowledge base {p.kb_version}, engine {p.engine_version}, newer evidence {p.newer_evidence}, "
            f"sources: {', '.join(p.sources) or 'none'}; "
            f"rows fired: {len(a.fired_rows())}, possible: {len(a.possible)}")
