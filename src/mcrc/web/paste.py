"""The new-case page's "paste reports" panel (issue 22 item 2, decision record 0046).

The clinician pastes one or more reports (a name and a type each); `mcrc.extract` reads them into a draft; the
draft fills the patient form, every extracted field marked with the sentence it came from, the conflicts listed in
words above the form (their fields left empty). Nothing is stored here: the draft travels with the form as a
hidden field, signed for the signed-in user, and reaches the store only when the clinician submits the form, which
then records which fields were saved as extracted and which the clinician changed (`mcrc.store.extraction`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcrc.errors import Problem
from mcrc.web import form as pform
from mcrc.web.form_fields import field_key

FIELD_NAME, FIELD_TYPE, FIELD_TEXT = "report_name", "report_type", "report_text"
DRAFT_FIELD, DRAFT_MAC_FIELD = "_extraction", "_extraction_mac"
TYPES = (("auto", "detect from the text"), ("pathology", "pathology"), ("radiology", "radiology (CT, MRI)"),
         ("letter", "letter (referral, clinic)"))
# A report pasted into the page: a two-page report is about 6,000 characters. The cap keeps every paste well below
# the server's body limit (1 MB by default), so the page, not a bare 413, says what is wrong.
MAX_CHARS = 200_000
MAX_REPORTS = 12
MAX_NAME = 100
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class Slot:
    """One report of the panel as the page shows it again."""

    name: str = ""
    kind: str = "auto"
    text: str = ""
    problems: list[str] = field(default_factory=list)


@dataclass
class Pasted:
    slots: list[Slot]
    problems: list[str]  # about the paste as a whole (no report, too many)

    @property
    def ok(self) -> bool:
        return not self.problems and not any(s.problems for s in self.slots)


def read_form(form: Any) -> Pasted:
    """The reports of the panel's form, each checked; a slot with neither name nor text is skipped."""
    names, kinds, texts = (form.getlist(k) for k in (FIELD_NAME, FIELD_TYPE, FIELD_TEXT))
    slots: list[Slot] = []
    problems: list[str] = []
    for i, text in enumerate(texts):
        name = str(names[i] if i < len(names) else "").strip()
        kind = str(kinds[i] if i < len(kinds) else "auto") or "auto"
        text = str(text)
        if not name and not text.strip():
            continue
        slots.append(Slot(name=name, kind=kind, text=text))
    if not slots:
        problems.append("Paste at least one report (its text in a report box) before reading the reports.")
    if len(slots) > MAX_REPORTS:
        problems.append(f"{len(slots)} reports were pasted; read at most {MAX_REPORTS} at a time.")
    seen: set[str] = set()
    for n, slot in enumerate(slots, start=1):
        if not slot.name:
            slot.name = f"report {n}"
        if len(slot.name) > MAX_NAME or _CONTROL.search(slot.name):
            slot.problems.append(f"The name must be plain text of at most {MAX_NAME} characters.")
            slot.name = _CONTROL.sub("", slot.name)[:MAX_NAME]
        if slot.name in seen:
            slot.problems.append(f"Two reports are named '{slot.name}': give each its own name (the form shows "
                                 "which report each value came from).")
        seen.add(slot.name)
        if slot.kind not in {k for k, _ in TYPES}:
            slot.problems.append(f"'{slot.kind}' is not a kind of report; choose one of: "
                                 + ", ".join(label for _, label in TYPES) + ".")
            slot.kind = "auto"
        if len(slot.text) > MAX_CHARS:
            slot.problems.append(f"The text is {len(slot.text):,} characters; a report pasted here may have at most "
                                 f"{MAX_CHARS:,} (about 60 pages). Paste the report itself, one report per box.")
            slot.text = ""  # not sent back to the browser
    return Pasted(slots, problems)


def documents(pasted: Pasted) -> list[Any]:
    """The extraction's documents; a text extraction refuses (empty, binary) is noted on its slot instead."""
    from mcrc import extract as extraction  # spaCy and medspaCy load on the first paste, not at start-up

    docs = []
    for slot in pasted.slots:
        if slot.problems:
            continue
        try:
            docs.append(extraction.document_from_text(slot.name, slot.text, slot.kind))
        except extraction.DocumentError as exc:
            slot.problems.extend(_sentence(p) for p in exc.problems)
            if _CONTROL.search(slot.text):
                slot.text = ""  # binary data is not echoed into the page
    return docs


def _sentence(p: Problem) -> str:
    text = p.message
    return (text[:1].upper() + text[1:] + ".").replace("..", ".")


# ---- the draft on the page ----------------------------------------------------------------------------------------
def carried(draft: Mapping[str, Any]) -> dict[str, Any]:
    """What travels with the form to the store: the documents' names and types (not their text), the draft patient,
    every filled field's source and the conflicts."""
    return {"documents": [{"name": d["name"], "type": d["type"]} for d in draft["documents"]],
            "patient": draft["patient"], "provenance": draft["provenance"],
            "conflicts": [{"field": c["field"], "reason": c.get("reason", ""), "values": c.get("values", [])}
                          for c in draft["conflicts"]]}


def value_words(path: str, value: Any) -> str:
    """A value as the form shows it: a choice's label, a size with its unit, yes/no."""
    if isinstance(value, dict) and "value" in value:
        return f"{value['value']:g} {value.get('unit', '')}".strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    spec = pform.BY_KEY.get(field_key(path))
    if spec is not None and spec.choices:
        for code, label in spec.choices:
            if code == str(value):
                return label
    return str(value).replace("_", " ") if isinstance(value, str) else json.dumps(value)


_COURSE = re.compile(r"^course (\S+) (\w+)$")


def conflict_where(name: str) -> str:
    """A conflict's field in the form's words: a path ('KRAS status'), or a course's field extraction names in words
    ('course FOLFIRI started': 'Course FOLFIRI › Started')."""
    if m := _COURSE.match(name):
        regimen = value_words("treatment_history.courses.regimen", m.group(1))
        spec = pform.BY_KEY.get(f"treatment_history.courses.{m.group(2)}")
        return f"Course {regimen} › {spec.label if spec else m.group(2)}"
    return pform.where_label(name) if re.match(r"^[A-Za-z_][\w.\[\]]*$", name) else name


@dataclass
class View:
    """The draft as the form page shows it."""

    carried: dict[str, Any]
    text: str  # the carried draft as JSON (the hidden field)
    mac: str
    sources: dict[str, dict[str, Any]]  # field path -> source (document, sentence, confidence, text)
    proposed: dict[str, str]  # field path -> the draft's value as the form spells it
    words: dict[str, str]  # field path -> the draft's value in words (a choice's label)
    conflicts: list[dict[str, Any]]  # {where, reason, values: [{words, document, sentence}]}
    unmapped: list[dict[str, Any]]
    documents: list[dict[str, Any]]

    def state(self, path: str, values: Mapping[str, str]) -> str:
        """'extracted' while the field holds the draft's value, 'edited' once the clinician changed it."""
        return "extracted" if values.get(path, "") == self.proposed.get(path, "") else "edited"


def as_text(carried_draft: Mapping[str, Any]) -> str:
    """The carried draft as the hidden field holds it (and as its signature covers it)."""
    return json.dumps(carried_draft, ensure_ascii=False, separators=(",", ":"))


def view(carried_draft: Mapping[str, Any], mac: str, unmapped: list[dict[str, Any]] | None = None) -> View:
    from mcrc.store.extraction import get

    patient = carried_draft["patient"]
    proposed = pform.draft_to_form(patient)
    conflicts = [{"where": conflict_where(c["field"]), "field": c["field"], "reason": c.get("reason", ""),
                  "values": [{"words": value_words(c["field"], v.get("value")), "document": v.get("document", ""),
                              "sentence": v.get("sentence", "")} for v in c.get("values", [])]}
                 for c in carried_draft.get("conflicts", [])]
    return View(carried=dict(carried_draft), text=as_text(carried_draft), mac=mac,
                sources=dict(carried_draft["provenance"]),
                proposed={p: proposed.get(p, "") for p in carried_draft["provenance"]},
                words={p: value_words(p, get(patient, p)) for p in carried_draft["provenance"]}, conflicts=conflicts,
                unmapped=list(unmapped or []), documents=list(carried_draft["documents"]))


def parse_carried(text: str) -> dict[str, Any] | None:
    """The carried draft back from the form (its signature already checked), or None if it is not one."""
    from mcrc.store.extraction import check

    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and not check(data) else None
