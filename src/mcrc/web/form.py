"""The patient form's values: the one conversion from form fields to a draft and back, and the rows it shows.

Field names are the patient's own field paths (`primary.location`, `metastases[0].largest_size.value`),
so the problems that `mcrc.parse_patient` reports (with those same paths) land next to the field they
name. A blank field is left out of the draft, never defaulted: blank means unknown. Validation is not
done here: the draft goes to `mcrc.parse_patient`, exactly as an API body would.

The fields themselves are built from the Patient model in `form_fields`; problems are put in the form's words by
`form_words`; the names the pages, the paste panel and the tests use are re-exported here (their import path).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcrc.patient import SCHEMA_VERSION
from mcrc.web.form_fields import (
    BY_KEY,
    INDEX,
    INDEXES,
    LABELS,
    LIST_STATE,
    NOT_IN_FORM,
    SPEC,
    FieldSpec,
)
from mcrc.web.form_words import messages, place_problems, where_label

__all__ = ["BY_KEY", "INDEX", "INDEXES", "LABELS", "LIST_STATE", "SPEC", "FieldSpec", "concrete", "draft_to_form",
           "form_paths", "form_to_draft", "messages", "organ_hidden", "place_problems", "row_counts", "where_label"]

_INT = re.compile(r"^[+-]?\d+$")


def _convert(spec: FieldSpec, raw: str) -> Any:
    """Obvious conversions only; anything else stays a string so the model reports it with its path."""
    if spec.kind == "integer" and _INT.match(raw):
        return int(raw)
    if spec.kind == "number":
        try:
            return float(raw) if not _INT.match(raw) else int(raw)
        except ValueError:
            return raw
    if spec.kind == "bool" and raw in ("true", "false"):
        return raw == "true"
    if spec.kind == "codes":
        return [code for code in re.split(r"[,\s]+", raw) if code]
    return raw


def _indexes(form: Mapping[str, str], path: str) -> list[int]:
    pat = re.compile(re.escape(path) + r"\[(\d+)\]\.")
    return sorted({int(m.group(1)) for k in form if (m := pat.match(k))})


def _collect(specs: list[FieldSpec], form: Mapping[str, str], index: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in specs:
        path = concrete(spec.path, index)
        if spec.kind == "group":
            sub = _collect(spec.children, form, index)
            if sub:
                out[spec.name] = sub
        elif spec.kind == "repeat":
            if form.get(LIST_STATE + path, "") == "none":
                out[spec.name] = []
                continue
            rows = []
            for i in _indexes(form, path):
                sub = _collect(spec.children, form, {**index, path: str(i)})
                if sub:
                    rows.append(sub)
            if rows:
                out[spec.name] = rows
        else:
            raw = (form.get(path) or "").strip()
            if raw:
                out[spec.name] = _convert(spec, raw)
    return out


def concrete(path: str, index: dict[str, str]) -> str:
    """Fill the INDEX placeholders of a spec path with the row numbers of the enclosing repeats."""
    out = path
    for repeat, i in index.items():
        for placeholder in INDEXES:
            if out.startswith(repeat + f"[{placeholder}]"):
                out = f"{repeat}[{i}]" + out[len(repeat) + len(placeholder) + 2:]
    return out


def form_to_draft(form: Mapping[str, str]) -> dict[str, Any]:
    """The patient draft the form describes: blank fields left out (unknown), empty groups left out. The form is
    built from the current Patient model, so the draft says which schema it follows."""
    return {"schema_version": SCHEMA_VERSION, **_collect(SPEC, form, {})}


def draft_to_form(draft: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The inverse, to show a stored or submitted patient in the form."""
    out: dict[str, str] = {}
    for key, value in draft.items():
        if not prefix and key in NOT_IN_FORM:
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(draft_to_form(value, path))
        elif isinstance(value, list) and value and all(isinstance(x, str) for x in value):
            out[path] = ", ".join(value)  # a list of codes
        elif isinstance(value, list):
            if not value:
                out[LIST_STATE + path] = "none"
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    out.update(draft_to_form(item, f"{path}[{i}]"))
        elif isinstance(value, bool):
            out[path] = "true" if value else "false"
        elif value is not None:
            out[path] = str(value)
    return out


def row_counts(values: Mapping[str, str]) -> dict[str, int]:
    """How many rows each repeated group needs to show `values` (at least one lesion row)."""
    counts: dict[str, int] = {"metastases": 1}
    for key in values:
        for m in re.finditer(r"\[(\d+)\]", key):
            name = key[:m.start()].removeprefix(LIST_STATE)  # the repeat's path, rows of enclosing repeats included
            counts[name] = max(counts.get(name, 0), int(m.group(1)) + 1)
    return counts


def form_paths(values: Mapping[str, str]) -> set[str]:
    """Every field and group path the form shows for these values (rows as rendered)."""
    counts = row_counts(values)
    out: set[str] = set()

    def walk(specs: list[FieldSpec], index: dict[str, str]) -> None:
        for spec in specs:
            path = concrete(spec.path, index)
            out.add(path)
            if spec.kind == "group":
                walk(spec.children, index)
            elif spec.kind == "repeat":
                for i in range(counts.get(path, 0)):
                    out.add(f"{path}[{i}]")
                    walk(spec.children, {**index, path: str(i)})

    walk(SPEC, {})
    return out


def organ_hidden(spec: FieldSpec, path: str, values: Mapping[str, str]) -> bool:
    """Whether a field of a metastatic site is hidden: it belongs to other organs than the row's (or the row's organ
    is not chosen yet) and holds no value (a value is shown, so its problem can be seen and the value cleared)."""
    if not spec.organs:
        return False
    m = re.match(r"^metastases\[(\d+)\]", path)
    organ = values.get(f"{m.group(0)}.organ", "") if m else ""
    return organ not in spec.organs and not values.get(path, "").strip()
