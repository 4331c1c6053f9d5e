"""Clinical review status of the decision-table rows (issue 17).

A row is *reviewed* when a clinician has read it against its source and says it says what the source says; a
*concern* is a clinician saying it may not. Reviews come from two places: `reviews.yaml` beside the tables (the
knowledge maintainer's merged file; it starts empty: the project itself never marks a row reviewed) and the
marks clinicians make in the app (kept in the case store, exported with `mcrc kb reviews export` in this file's
format). Nothing here knows the store: the outer layers hand their marks in as `ReviewEntry`s.

A review is of a row's content, identified by the row's *version*: a digest of the row as written, its table's
applicability and the vocabulary terms it outputs (`row_version`). A review whose row has changed since counts
for nothing; it is shown as made on an earlier version (decision record 0029).

Effective status of a row, over the entries of both places for its current version: the latest by date wins;
on the same date a concern wins over a review (the cautious reading) and the knowledge file over the store.
Without any entry for its current version, a row reviewed (or questioned) on an earlier version is
`earlier_version`; otherwise `not_reviewed`. Only `reviewed` and `concern` are statements about the current
row; `earlier_version` and `not_reviewed` both mean "not clinically reviewed".
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from mcrc.errors import Problem

REVIEWS_FILE = "reviews.yaml"
MARKS = ("reviewed", "concern")  # what a clinician may say about a row
Status = Literal["reviewed", "concern", "earlier_version", "not_reviewed"]
ItemStatus = Literal["reviewed", "partly_reviewed", "concern", "not_reviewed"]
ENTRY_KEYS = ("row", "status", "role", "reviewer", "date", "kb_version", "row_version", "comment")
REQUIRED_KEYS = ("row", "status", "role", "reviewer", "date", "kb_version", "row_version")
_VERSION = re.compile(r"^[0-9a-f]{12}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # as the patient's free text (tab, line feeds kept)
MAX_NAME = 64  # a reviewer's name or role (the store's user name and role columns)
MAX_COMMENT = 2000


@dataclass(frozen=True)
class ReviewEntry:
    """One review of one row, from the knowledge file (`source` "knowledge") or a mark made in the app ("store")."""

    row: str
    status: Literal["reviewed", "concern"]
    role: str
    reviewer: str
    date: dt.date
    kb_version: str
    row_version: str
    comment: str | None = None
    source: Literal["knowledge", "store"] = "knowledge"

    def as_yaml_entry(self) -> dict[str, Any]:
        """The entry as `reviews.yaml` writes it (what `mcrc kb reviews export` prints)."""
        return {"row": self.row, "status": self.status, "role": self.role, "reviewer": self.reviewer,
                "date": self.date, "kb_version": self.kb_version, "row_version": self.row_version,
                "comment": self.comment}

    def same_review(self, other: ReviewEntry) -> bool:
        """The same review wherever it is kept (a store mark already merged into the knowledge file)."""
        return self.as_yaml_entry() == other.as_yaml_entry()


@dataclass(kw_only=True, frozen=True)
class RowReview:
    """The effective review status of one row, as the Assessment shows it (`reviews` in the JSON).

    For `reviewed` and `concern` the other fields describe the review that counts; for `earlier_version` the
    latest review made on an earlier version of the row (`earlier_status` says what it was); for `not_reviewed`
    they are empty."""

    status: Status
    role: str | None = None
    reviewer: str | None = None
    date: dt.date | None = None
    comment: str | None = None
    kb_version: str | None = None
    source: Literal["knowledge", "store"] | None = None
    earlier_status: Literal["reviewed", "concern"] | None = None


NOT_REVIEWED = RowReview(status="not_reviewed")
# What one row's status means for an item it produced: a review of an earlier version is no review of this one.
ITEM_STATUS: dict[str, ItemStatus] = {"reviewed": "reviewed", "concern": "concern",
                                      "earlier_version": "not_reviewed", "not_reviewed": "not_reviewed"}


def combine(a: str, b: str) -> ItemStatus:
    """The status of an item made by several rows: a concern on any of them is the item's; all reviewed is
    reviewed; none reviewed is not reviewed; anything else is partly reviewed."""
    if a == "concern" or b == "concern":
        return "concern"
    if a == b:
        return a  # type: ignore[return-value]
    return "partly_reviewed"


def item_status(statuses: Iterable[RowReview]) -> ItemStatus:
    out: ItemStatus | None = None
    for rv in statuses:
        s = ITEM_STATUS[rv.status]
        out = s if out is None else combine(out, s)
    return out or "not_reviewed"


def _rank(e: ReviewEntry, order: int) -> tuple:
    return e.date, e.status == "concern", e.source == "knowledge", order


def effective(entries: list[ReviewEntry], row_version: str) -> RowReview:
    """The status of one row from its entries (in the order they were made or written)."""
    if not entries:
        return NOT_REVIEWED
    indexed = list(enumerate(entries))
    current = [(i, e) for i, e in indexed if e.row_version == row_version]
    _, e = max(current or indexed, key=lambda p: _rank(p[1], p[0]))
    if current:
        return RowReview(status=e.status, role=e.role, reviewer=e.reviewer, date=e.date, comment=e.comment,
                         kb_version=e.kb_version, source=e.source)
    return RowReview(status="earlier_version", role=e.role, reviewer=e.reviewer, date=e.date, comment=e.comment,
                     kb_version=e.kb_version, source=e.source, earlier_status=e.status)


@dataclass(frozen=True)
class ReviewBook:
    """The effective status of every row of one knowledge base, computed once (per knowledge base and per state
    of the store's marks), looked up per row by the engine. `version` identifies the entries it was built from
    (answers kept by the server are keyed by it); `sources` says where they were read."""

    kb_version: str
    statuses: Mapping[str, RowReview]
    version: str
    sources: tuple[Literal["knowledge", "store"], ...] = ("knowledge",)
    entries: tuple[ReviewEntry, ...] = field(default=(), repr=False)

    def get(self, row_id: str) -> RowReview:
        return self.statuses.get(row_id, NOT_REVIEWED)

    def counts(self) -> dict[str, int]:
        out = {"reviewed": 0, "concern": 0, "earlier_version": 0}
        for rv in self.statuses.values():
            if rv.status in out:
                out[rv.status] += 1
        return out


def build_book(kb_version: str, row_versions: Mapping[str, str], entries: Iterable[ReviewEntry],
               sources: tuple[Literal["knowledge", "store"], ...] = ("knowledge",)) -> ReviewBook:
    entries = tuple(entries)
    by_row: dict[str, list[ReviewEntry]] = {}
    for e in entries:
        if e.row in row_versions:  # a store mark for a row since removed from the knowledge base: nothing to show
            by_row.setdefault(e.row, []).append(e)
    statuses = {row: effective(es, row_versions[row]) for row, es in by_row.items()}
    digest = hashlib.sha256(json.dumps([[e.source, *e.as_yaml_entry().values()] for e in entries],
                                       default=str, separators=(",", ":")).encode()).hexdigest()[:12]
    return ReviewBook(kb_version=kb_version, statuses=statuses, version=digest, sources=sources, entries=entries)


# ---- the row's version ---------------------------------------------------------------------------------------
def row_digest(row_data: Any, table_data: Mapping[str, Any], source: str) -> str:
    """The part of a row's version the table file gives: the row as written, and its table's id, applicability,
    hit policy and citation (a row fires only where its table applies). Vocabulary terms are added by the loader."""
    table = {k: table_data.get(k) for k in ("id", "applies", "hit", "cite")}
    return _digest({"source": source, "table": table, "row": row_data})


def row_version(digest: str, terms: list[Any]) -> str:
    """The row's version: its table-file digest and the vocabulary terms of every code it outputs (a regimen whose
    drugs change is a different recommendation), as 12 hex digits."""
    return _digest({"row": digest, "terms": terms})[:12]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()


# ---- reviews.yaml ---------------------------------------------------------------------------------------------
def _text(value: Any, name: str, problems: list[tuple[str, str, str | None]], *, required: bool,
          limit: int, missing: str = "is required") -> str | None:
    if value is None:
        if required:
            problems.append((name, missing, None))
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append((name, f"must be text with at least one visible character, not {value!r}", None))
        return None
    if len(value) > limit:
        problems.append((name, f"is {len(value)} characters; at most {limit}", None))
        return None
    if _CONTROL.search(value):
        problems.append((name, "contains a control character", None))
        return None
    return value if name == "comment" else value.strip()


def parse_entry(data: Any, row_versions: Mapping[str, str],
                source: Literal["knowledge", "store"] = "knowledge") -> tuple[ReviewEntry | None, list[tuple]]:
    """One entry, checked: (entry, []) or (None, [(key, message, allowed)...])."""
    if not isinstance(data, dict):
        return None, [("", "a review is a mapping with " + ", ".join(REQUIRED_KEYS) + " (and optional comment)",
                       None)]
    problems: list[tuple[str, str, str | None]] = []
    extra = sorted(set(map(str, data)) - set(ENTRY_KEYS))
    if extra:
        problems.append(("", f"unknown key(s): {', '.join(extra)}", ", ".join(ENTRY_KEYS)))
    for key in REQUIRED_KEYS:
        if data.get(key) is None:
            problems.append((key, "is required", None))
    row = data.get("row")
    if row is not None and (not isinstance(row, str) or row not in row_versions):
        import difflib

        close = difflib.get_close_matches(str(row), list(row_versions), n=3)
        problems.append(("row", f"no row {row!r} in the knowledge base",
                         ", ".join(close) if close else "a row id from `mcrc kb`"))
    status = data.get("status")
    if status is not None and status not in MARKS:
        problems.append(("status", f"unknown status {status!r}", ", ".join(MARKS)))
    date = data.get("date")
    day: dt.date | None = None
    if isinstance(date, (dt.datetime, bool)):
        problems.append(("date", f"{date!r} is not a date (YYYY-MM-DD, without a time)", None))
    elif isinstance(date, dt.date):
        day = date
    elif isinstance(date, str):
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
                raise ValueError
            day = dt.date.fromisoformat(date)
        except ValueError:
            problems.append(("date", f"{date!r} is not a date (YYYY-MM-DD)", None))
    elif date is not None:
        problems.append(("date", f"{date!r} is not a date (YYYY-MM-DD)", None))
    for key in ("kb_version", "row_version"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not _VERSION.match(value)):
            problems.append((key, f"{value!r} is not a version (12 hexadecimal digits, as `mcrc kb show ROW` "
                                  "prints it)", None))
    role = _text(data.get("role"), "role", problems, required=False, limit=MAX_NAME)
    reviewer = _text(data.get("reviewer"), "reviewer", problems, required=False, limit=MAX_NAME)
    comment = _text(data.get("comment"), "comment", problems, required=status == "concern", limit=MAX_COMMENT,
                    missing="is required with a concern (say what may be wrong)")
    if problems:
        return None, problems
    return ReviewEntry(row=row, status=status, role=role, reviewer=reviewer, date=day,  # type: ignore[arg-type]
                       kb_version=data["kb_version"], row_version=data["row_version"], comment=comment,
                       source=source), []


def parse_reviews(data: Any, lines: Mapping[tuple, int], file: str,
                  row_versions: Mapping[str, str]) -> tuple[list[ReviewEntry], list[Problem]]:
    """`reviews.yaml` (already read as YAML with its line numbers): every entry checked; duplicates refused."""
    problems: list[Problem] = []

    def where(path: tuple) -> str:
        p = tuple(path)
        while p and p not in lines:
            p = p[:-1]
        line = lines.get(p) or lines.get(())
        dotted = ".".join(str(x) for x in path)
        return (f"{file}:{line}" if line else file) + (f" ({dotted})" if dotted else "")

    if data is None or (isinstance(data, dict) and data.get("reviews") is None and set(data) <= {"reviews"}):
        return [], []
    if not isinstance(data, dict) or set(data) != {"reviews"} or not isinstance(data["reviews"], list):
        return [], [Problem(where(()), "a review file is a mapping with one key, 'reviews': a list of reviews")]
    out: list[ReviewEntry] = []
    for i, item in enumerate(data["reviews"]):
        entry, found = parse_entry(item, row_versions)
        for key, message, allowed in found:
            problems.append(Problem(where(("reviews", i, key) if key else ("reviews", i)), message, allowed))
        if entry is None:
            continue
        if any(entry.same_review(e) for e in out):
            problems.append(Problem(where(("reviews", i)), f"the same review of {entry.row} appears twice (merged "
                                                           "twice?); keep one"))
            continue
        out.append(entry)
    return out, problems


def dump_reviews(entries: Iterable[ReviewEntry], header: str = "") -> str:
    """Entries as a `reviews.yaml` document (dates as YAML dates, keys in the documented order)."""
    body = [e.as_yaml_entry() for e in entries]
    text = yaml.safe_dump({"reviews": body}, sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=False)
    return header + text


EXPORT_HEADER = """\
# Clinical review marks made in the mcrc app, in the format of the knowledge base's reviews.yaml (issue 17).
# Exported {when} by `mcrc kb reviews export` from knowledge base {kb_version}: {what}.
# A knowledge maintainer merges them: {how}
# then checks the knowledge base loads (`mcrc kb`), and commits. A review counts only while its row is unchanged
# (the same row_version); the loader refuses a row that no longer exists and the same review twice.
"""


def export_entries(known: Iterable[ReviewEntry], marks: Iterable[ReviewEntry], row_versions: Mapping[str, str],
                   merged: bool = False) -> tuple[list[ReviewEntry], list[ReviewEntry]]:
    """What `mcrc kb reviews export` writes: the marks made in the app that the knowledge file does not hold yet
    (each once: a row marked twice the same day with the same words is one review), after the knowledge file's own
    entries when `merged`; and the marks left out because their row is no longer in the knowledge base (the loader
    would refuse them)."""
    known = list(known)
    out: list[ReviewEntry] = list(known) if merged else []
    seen = {_key(e) for e in known}
    gone: list[ReviewEntry] = []
    for m in marks:
        if m.row not in row_versions:
            gone.append(m)
        elif _key(m) not in seen:
            seen.add(_key(m))
            out.append(m)
    return out, gone


def _key(e: ReviewEntry) -> tuple:
    return tuple(e.as_yaml_entry().values())
