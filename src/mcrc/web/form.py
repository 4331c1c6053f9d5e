"""The patient form, generated from the Patient model, and the one conversion from form fields to a draft.

Field names are the patient's own field paths (`primary.location`, `metastases[0].largest_size.value`),
so the problems that `mcrc.parse_patient` reports (with those same paths) land next to the field they
name. A blank field is left out of the draft, never defaulted: blank means unknown. Validation is not
done here: the draft goes to `mcrc.parse_patient`, exactly as an API body would.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from mcrc.patient import SCHEMA_VERSION, Patient
from mcrc.vocabulary import load_vocabulary

INDEX = "__i__"  # placeholder for the row number in the template of a repeated group
# one placeholder per nesting depth (a metastasis row holds rows of its lesions): filling in an outer row's number
# must leave the placeholder of the rows nested in it for their own "add" button (decision record 0036)
INDEXES = (INDEX, "__j__")
LIST_STATE = "_list."  # `_list.metastases` = "" (not recorded: unknown) or "none" (an empty list)
_SKIP = {"schema_version"}
_ACRONYMS = {"ecog": "ECOG", "cea": "CEA", "pci": "PCI", "kras": "KRAS", "nras": "NRAS", "braf": "BRAF",
             "mmr": "MMR", "msi": "MSI", "her2": "HER2", "ihc": "IHC", "ntrk": "NTRK", "ret": "RET",
             "ned": "NED", "ct": "cT", "cn": "cN", "ctdna": "ctDNA", "egfr": "EGFR", "ng": "ng", "ml": "mL",
             "id": "Case label (id)",
             # primary-tumour inputs of decision record 0035
             "pt": "pT", "pn": "pN", "ypt": "ypT", "ypn": "ypN"}


@dataclass
class FieldSpec:
    """One input (kind: select, number, integer, date, text, bool), a group, or a repeated group."""

    name: str
    path: str  # with INDEX where a row number goes
    label: str
    kind: str
    help: str | None = None
    required: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    children: list[FieldSpec] = field(default_factory=list)
    index: str = INDEX  # a repeated group: the placeholder of its row number (INDEXES, by depth)


def _label(name: str) -> str:
    words = [_ACRONYMS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _unwrap(ann: Any) -> Any:
    while True:
        origin = get_origin(ann)
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann
            ann = args[0]
        elif origin is Annotated:
            ann = get_args(ann)[0]
        else:
            return ann


def _leaf(name: str, path: str, ann: Any, help_text: str | None, required: bool) -> FieldSpec:
    spec = FieldSpec(name=name, path=path, label=_label(name), kind="text", help=help_text, required=required)
    if get_origin(ann) is Literal:
        spec.kind = "select"
        spec.choices = [(str(v), str(v).replace("_", " ")) for v in get_args(ann)]
    elif ann is bool:
        spec.kind, spec.choices = "bool", [("true", "yes"), ("false", "no")]
    elif ann is int:
        spec.kind = "integer"
    elif ann is float:
        spec.kind = "number"
    elif ann is dt.date:
        spec.kind = "date"
    elif name == "regimen":
        vocab = load_vocabulary()
        spec.kind = "select"
        spec.choices = [(c, vocab.get("regimens", c).label) for c in vocab.codes("regimens")]
    return spec


def build_spec(model: type[BaseModel] = Patient, prefix: str = "", depth: int = 0) -> list[FieldSpec]:
    """The form's fields, in the model's order, walked from the pydantic annotations (`depth`: how many repeated
    groups enclose them)."""
    out: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        if name in _SKIP:
            continue
        path = f"{prefix}.{name}" if prefix else name
        ann = _unwrap(info.annotation)
        if get_origin(ann) is list and not (isinstance(_unwrap(get_args(ann)[0]), type)
                                            and issubclass(_unwrap(get_args(ann)[0]), BaseModel)):
            # a list of codes (a course's drugs): one text field, codes separated by commas
            out.append(FieldSpec(name=name, path=path, label=_label(name), kind="codes",
                                 help=(info.description or "") + " (codes separated by commas)"))
        elif get_origin(ann) is list:
            item = _unwrap(get_args(ann)[0])
            index = INDEXES[depth]
            out.append(FieldSpec(name=name, path=path, label=_label(name), kind="repeat", help=info.description,
                                 children=build_spec(item, f"{path}[{index}]", depth + 1), index=index))
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            out.append(FieldSpec(name=name, path=path, label=_label(name), kind="group", help=info.description,
                                 children=build_spec(ann, path, depth)))
        else:
            out.append(_leaf(name, path, ann, info.description, info.is_required()))
    return out


SPEC = build_spec()
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
        if not prefix and key in _SKIP:
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


def place_problems(problems: list[dict[str, Any]], paths: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Attach each problem to the nearest field or group the form shows; the rest go to the summary."""
    placed: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in problems:
        where = p.get("field") or ""
        target = where
        while target and target not in paths:
            target = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", target) if re.search(r"[.\[]", target) else ""
        text = p["message"] + (f" (allowed: {p['allowed']})" if p.get("allowed") else "")
        if target:
            placed.setdefault(target, []).append(text)
        else:
            rest.append(f"{where}: {text}" if where else text)
    return placed, rest


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
