"""The record of which fields of a saved case came from report text (issue 22 item 2, decision record 0046).

A clinician pastes reports, extraction fills a draft (`mcrc.extract`), the clinician checks it and saves. What is
kept with the case version: the documents read (name and type), and for every field the draft filled or left in
conflict the value saved and its origin, compared with the draft after both went through the Patient model:

- `extracted`: saved with the value extraction read (its source: document, span, sentence, confidence);
- `clinician`: the clinician changed or cleared it before saving (`value` is theirs, or null when cleared; the
  value extraction had proposed and its source are kept under `extracted`);
- `conflict`: the reports disagreed and extraction left it empty; `value` is what the clinician saved (or null).

A field of a row (a metastatic site, a course) counts as extracted only if its row is still the draft's row (same
organ; same regimen, intent and start of a course): a removed or reordered row makes its fields the clinician's.
Nothing here trusts the caller for more than the draft it says it showed; the store computes the origins itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcrc.errors import Problem
from mcrc.store.errors import StoreInvalid

ORIGINS = ("extracted", "clinician", "conflict")
# what makes a row "the same row" as the draft's, by the path of its list
ROW_KEYS = {"metastases": ("organ",), "treatment_history.courses": ("regimen", "intent", "started")}
_SOURCE_KEYS = ("document", "start", "end", "sentence", "confidence")
_PART = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)|\[(\d+)\]")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z_0-9]*(?:\[\d+\])?)*$")
MAX_FIELDS = 2000
MAX_TEXT = 4000  # a sentence, a document name: longer is not what extraction writes


def _parts(path: str) -> list[str | int]:
    return [m.group(1) if m.group(1) else int(m.group(2)) for m in _PART.finditer(path)]


def get(target: Any, path: str) -> Any:
    """The value at a Patient JSON path (`metastases[0].largest_size.value`), or None."""
    for part in _parts(path):
        if isinstance(part, int):
            if not isinstance(target, list) or part >= len(target):
                return None
            target = target[part]
        else:
            if not isinstance(target, dict):
                return None
            target = target.get(part)
        if target is None:
            return None
    return target


def _same_row(saved: Mapping[str, Any], draft: Mapping[str, Any], path: str) -> bool:
    """Whether every row enclosing `path` is still the draft's row (its identifying fields unchanged)."""
    for m in re.finditer(r"\[\d+\]", path):
        row = path[:m.end()]
        keys = ROW_KEYS.get(re.sub(r"\[\d+\]", "", path[:m.start()]))
        if keys is None:
            continue
        before, after = get(draft, row), get(saved, row)
        if not isinstance(before, dict) or not isinstance(after, dict):
            return False
        if any(before.get(k) != after.get(k) for k in keys if k in before and f"{row}.{k}" != path):
            return False
    return True


def _source(src: Mapping[str, Any]) -> dict[str, Any]:
    return {k: src.get(k) for k in _SOURCE_KEYS}


def check(extraction: Any) -> list[Problem]:
    """Every problem of the draft a caller says it showed ({documents, patient, provenance, conflicts})."""
    if not isinstance(extraction, Mapping):
        return [Problem("extraction", "must be an object with documents, patient, provenance and conflicts")]
    problems: list[Problem] = []
    docs = extraction.get("documents")
    if not isinstance(docs, list) or not docs or not all(
            isinstance(d, Mapping) and isinstance(d.get("name"), str) and isinstance(d.get("type"), str)
            for d in docs):
        problems.append(Problem("extraction.documents", "must list the documents read, each with a name and a type"))
    if not isinstance(extraction.get("patient"), Mapping):
        problems.append(Problem("extraction.patient", "must be the draft patient (an object)"))
    prov = extraction.get("provenance")
    if not isinstance(prov, Mapping) or len(prov) > MAX_FIELDS:
        problems.append(Problem("extraction.provenance", f"must map at most {MAX_FIELDS} field paths to sources"))
    else:
        for path, src in prov.items():
            ok = (isinstance(path, str) and _PATH.match(path) and isinstance(src, Mapping)
                  and isinstance(src.get("document"), str) and isinstance(src.get("sentence"), str)
                  and isinstance(src.get("confidence"), str)
                  and all(isinstance(src.get(k), int) and not isinstance(src.get(k), bool) for k in ("start", "end"))
                  and all(len(src[k]) <= MAX_TEXT for k in ("document", "sentence", "confidence")))
            if not ok:
                problems.append(Problem(f"extraction.provenance.{path}", "must be a field path with its source: "
                                        "document, start, end, sentence and confidence"))
                break
    conflicts = extraction.get("conflicts", [])
    # a conflict names a field path, or in words a field no path holds yet ("course FOLFIRI started": two reports
    # give one course two start dates, and extraction keeps the course without it)
    if not isinstance(conflicts, list) or not all(
            isinstance(c, Mapping) and isinstance(c.get("field"), str) and 0 < len(c["field"]) <= MAX_TEXT
            and isinstance(c.get("values", []), list) for c in conflicts):
        problems.append(Problem("extraction.conflicts", "must list the fields left in conflict, each with its values"))
    return problems


def fields(saved: Mapping[str, Any], extraction: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per field the draft filled or left in conflict: path, value saved, origin, source(s).

    `saved` is the patient as stored and `extraction["patient"]` the draft as shown, both dumped by the Patient
    model (so 3 and 3.0, or a date and its text, compare equal); `check` has passed."""
    draft = extraction["patient"]
    out: list[dict[str, Any]] = []
    for path, src in sorted(extraction["provenance"].items()):
        proposed, value = get(draft, path), get(saved, path)
        same = proposed is not None and value == proposed and _same_row(saved, draft, path)
        out.append({"field": path, "origin": "extracted" if same else "clinician", "value": value,
                    "extracted": {"value": proposed, **_source(src)}})
    for c in extraction.get("conflicts", []):
        value = get(saved, c["field"]) if _PATH.match(c["field"]) else None
        out.append({"field": c["field"], "origin": "conflict", "value": value,
                    "conflict": [{"value": v.get("value"), **_source(v)} for v in c.get("values", [])
                                 if isinstance(v, Mapping)]})
    return out


def checked(extraction: Any) -> Mapping[str, Any]:
    """The extraction as given, or StoreInvalid (nothing written) naming what is wrong with it."""
    if problems := check(extraction):
        raise StoreInvalid(problems)
    return extraction
