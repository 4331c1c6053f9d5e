"""The outline's sections and entries, with the review words, concerns and caveats every entry carries."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcrc.engine.assessment import Assessment, Item
from mcrc.render.summary import cite_text


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
