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

from mcrc.patient import (
    LIVER_LESION_FIELDS,
    LIVER_ONLY_FIELDS,
    LUNG_ONLY_FIELDS,
    PERITONEUM_ONLY_FIELDS,
    SCHEMA_VERSION,
    Patient,
)
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


def _key(path: str) -> str:
    return re.sub(r"\[[^\]]*\]", "", path)


# The form's labels, in clinical words (decision record 0040), by field path without row numbers. Every field has
# one (a test checks), so no label is made from a field name ("CT", "Ras").
LABELS = {
    "id": "Case label", "age": "Age (years)", "sex": "Sex", "ecog": "ECOG performance status",
    "primary": "Primary tumour", "primary.location": "Location of the primary",
    "primary.distance_from_anal_verge_cm": "Distance from the anal verge (cm)", "primary.rectal_third": "Rectal third",
    "primary.ct": "Clinical T category (cT)", "primary.cn": "Clinical N category (cN)",
    "primary.pt": "Pathological T category (pT)", "primary.pn": "Pathological N category (pN)",
    "primary.ypt": "T category after neoadjuvant therapy (ypT)",
    "primary.ypn": "N category after neoadjuvant therapy (ypN)",
    "primary.diagnosed": "Date of diagnosis", "primary.status": "Status of the primary",
    "primary.resected_on": "Date of resection", "primary.resectability": "Resectability of the primary",
    "primary.emergency": "Emergency of the primary",
    "metastases": "Metastatic sites", "metastases.organ": "Organ", "metastases.count": "Number of lesions",
    "metastases.largest_size": "Largest lesion", "metastases.largest_size.value": "Largest lesion: size",
    "metastases.largest_size.unit": "Largest lesion: unit", "metastases.bilateral": "Bilateral (both sides)",
    "metastases.zone": "Lung zone", "metastases.hilar_mediastinal_nodes": "Hilar or mediastinal nodes",
    "metastases.lymphangitic": "Lymphangitic carcinomatosis", "metastases.symptomatic": "Symptomatic",
    "metastases.nature_indeterminate": "Nature indeterminate on imaging", "metastases.found": "Date found",
    "metastases.timing": "Synchronous or metachronous", "metastases.resectability": "Resectability (MDT judgement)",
    "metastases.multifocal_stage": "Multifocal liver disease: stage",
    "metastases.major_resection_needed": "Major hepatectomy needed",
    "metastases.small_and_accessible": "Small and easily accessible",
    "metastases.pci": "Peritoneal Cancer Index (PCI)", "metastases.p_category": "Peritoneal P category",
    "metastases.lesions": "Lesions one by one", "metastases.lesions.size": "Lesion size",
    "metastases.lesions.size.value": "Lesion size", "metastases.lesions.size.unit": "Unit",
    "metastases.lesions.zone": "Lung zone", "metastases.lesions.side": "Side (which lung or liver lobe)",
    "metastases.lesions.suitable_for_resection": "Suitable for resection",
    "metastases.bilobar": "Both liver lobes",
    "metastases.disappeared_count": "Lesions that disappeared on chemotherapy",
    "metastases.complete_response": "Complete response of this site",
    "biomarkers": "Biomarkers", "biomarkers.kras": "KRAS status", "biomarkers.kras_variant": "KRAS variant",
    "biomarkers.nras": "NRAS status", "biomarkers.braf": "BRAF status", "biomarkers.mmr": "Mismatch repair (MMR)",
    "biomarkers.msi": "Microsatellite instability (MSI)", "biomarkers.her2": "HER2 status",
    "biomarkers.her2_method": "HER2 test method", "biomarkers.her2_ihc_score": "HER2 IHC score",
    "biomarkers.ntrk_fusion": "NTRK fusion", "biomarkers.ret_fusion": "RET fusion",
    "biomarkers.ctdna": "Circulating tumour DNA (ctDNA)", "biomarkers.ctdna.ras": "RAS status in ctDNA",
    "biomarkers.ctdna.braf": "BRAF status in ctDNA", "biomarkers.ctdna.egfr_ectodomain": "EGFR ectodomain in ctDNA",
    "biomarkers.ctdna.date": "Date of the ctDNA test", "biomarkers.specimen": "Specimen tested",
    "cea_ng_ml": "CEA (ng/mL)", "tumour_burden": "Tumour burden (MDT judgement)", "region": "Region of treatment",
    "treatment_history": "Treatment history", "treatment_history.courses": "Systemic therapy courses",
    "treatment_history.courses.intent": "Intent", "treatment_history.courses.regimen": "Regimen",
    "treatment_history.courses.drugs": "Drugs (when no regimen fits)", "treatment_history.courses.line": "Line",
    "treatment_history.courses.started": "Started", "treatment_history.courses.ended": "Ended",
    "treatment_history.courses.cycles": "Cycles", "treatment_history.courses.best_response": "Best response",
    "treatment_history.courses.stop_reason": "Why it stopped",
    "treatment_history.courses.toxicity_drugs": "Drugs not tolerated",
    "treatment_history.courses.progression_date": "Date of progression",
    "treatment_history.radiotherapy": "Radiotherapy", "treatment_history.radiotherapy.kind": "Kind",
    "treatment_history.radiotherapy.site": "Site", "treatment_history.radiotherapy.started": "Started",
    "treatment_history.radiotherapy.ended": "Ended", "treatment_history.procedures": "Local procedures",
    "treatment_history.procedures.kind": "Procedure", "treatment_history.procedures.date": "Date",
    "treatment_history.procedures.margin": "Resection margin",
    "fitness": "Fitness", "fitness.fit_for_surgery": "Fit for surgery",
    "fitness.fit_for_intensive_therapy": "Fit for intensive therapy",
    "fitness.adequate_organ_function": "Adequate organ function",
    "preferences": "The patient's wishes", "preferences.declines_surgery": "Declines surgery",
    "preferences.wishes_organ_preservation": "Wishes organ preservation",
    "symptoms": "Symptoms", "symptoms.bone_pain": "Bone pain",
    "ned": "No evidence of disease (NED)", "ned_date": "Date NED was reached",
    "hereditary_syndrome": "Hereditary syndrome", "second_primary_cancer": "Second primary cancer",
}
ROW_LABELS = {"metastases": "Metastatic site", "metastases.lesions": "Lesion", "treatment_history.courses": "Course",
              "treatment_history.radiotherapy": "Radiotherapy course", "treatment_history.procedures": "Procedure"}
# the fields of a metastatic site that belong to some organs only (the Patient model refuses them elsewhere)
ORGAN_FIELDS: dict[str, tuple[str, ...]] = {
    **{f"metastases.{f}": ("lung",) for f in LUNG_ONLY_FIELDS},
    **{f"metastases.{f}": ("liver",) for f in LIVER_ONLY_FIELDS + LIVER_LESION_FIELDS},
    **{f"metastases.{f}": ("peritoneum",) for f in PERITONEUM_ONLY_FIELDS},
    "metastases.lesions.zone": ("lung",), "metastases.lesions.side": ("lung", "liver"),
}


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
    organs: tuple[str, ...] = ()  # a metastatic site's field that belongs to these organs only (empty: every organ)
    low: float | None = None  # numbers: the allowed range (low_open: low itself is not allowed)
    high: float | None = None
    low_open: bool = False
    row_label: str | None = None  # a repeated group: what one row is ("Metastatic site")

    @property
    def key(self) -> str:
        """The path without row numbers (`metastases.lesions.zone`): what LABELS and the organ rules are keyed by."""
        return _key(self.path)


def _label(name: str, path: str = "") -> str:
    if _key(path) in LABELS:
        return LABELS[_key(path)]
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


def _leaf(name: str, path: str, ann: Any, help_text: str | None, required: bool,
          metadata: list[Any] | None = None) -> FieldSpec:
    spec = FieldSpec(name=name, path=path, label=_label(name, path), kind="text", help=help_text, required=required,
                     organs=ORGAN_FIELDS.get(_key(path), ()))
    for m in metadata or ():
        for attr, low, open_ in (("ge", True, False), ("gt", True, True), ("le", False, False)):
            value = getattr(m, attr, None)
            if value is not None and low:
                spec.low, spec.low_open = value, open_
            elif value is not None:
                spec.high = value
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
            out.append(FieldSpec(name=name, path=path, label=_label(name, path), kind="codes",
                                 help=(info.description or "") + " (codes separated by commas)"))
        elif get_origin(ann) is list:
            item = _unwrap(get_args(ann)[0])
            index = INDEXES[depth]
            out.append(FieldSpec(name=name, path=path, label=_label(name, path), kind="repeat", help=info.description,
                                 children=build_spec(item, f"{path}[{index}]", depth + 1), index=index,
                                 organs=ORGAN_FIELDS.get(_key(path), ()),
                                 row_label=ROW_LABELS.get(_key(path), _label(name, path))))
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            out.append(FieldSpec(name=name, path=path, label=_label(name, path), kind="group", help=info.description,
                                 children=build_spec(ann, path, depth), organs=ORGAN_FIELDS.get(_key(path), ())))
        else:
            out.append(_leaf(name, path, ann, info.description, info.is_required(), info.metadata))
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


def _specs_by_key() -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}

    def walk(specs: list[FieldSpec]) -> None:
        for s in specs:
            out[s.key] = s
            walk(s.children)

    walk(SPEC)
    return out


BY_KEY = _specs_by_key()


def _num(x: float) -> str:
    return f"{x:g}"


def range_text(spec: FieldSpec) -> str:
    """The allowed range of a number field in words: 'from 18 to 110', 'more than 0 and at most 500'."""
    lo, hi = spec.low, spec.high
    if lo is not None and hi is not None:
        return f"more than {_num(lo)} and at most {_num(hi)}" if spec.low_open else f"from {_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f"more than {_num(lo)}" if spec.low_open else f"at least {_num(lo)}"
    return f"at most {_num(hi)}" if hi is not None else ""


def where_label(path: str) -> str:
    """A problem's place in the form's words, rows numbered from 1: 'Metastatic site 2 › Lung zone'."""
    if not path or path == "(patient)":
        return "The patient"
    parts: list[str] = []
    done = ""
    for m in re.finditer(r"([^.\[\]]+)(?:\[(\d+)\])?", path):
        done = f"{done}.{m.group(1)}" if done else m.group(1)
        spec = BY_KEY.get(done)
        if m.group(2) is not None:
            parts.append(f"{spec.row_label if spec and spec.row_label else m.group(1)} {int(m.group(2)) + 1}")
        elif (spec is not None and spec.kind not in ("group",)) or m.end() == len(path):
            parts.append(spec.label if spec else m.group(1))
    return " › ".join(parts)


_RANGE = re.compile(r"^Input should be (?:greater|less) than(?: or equal to)? [-+\d.e]+ \(got (.*)\)$")
_ORGAN = re.compile(r"(\S+(?:, \S+)*) apply only to (.+?) lesions \(organ is (\w+)\)")


def _named(row_key: str, names: str) -> str:
    """Field names of a row ('zone, pci', 'lesions[0].zone') in the form's words."""
    out = []
    for name in names.split(", "):
        m = re.match(r"^(\w+)\[(\d+)\]\.(\w+)$", name)
        if m:
            spec = BY_KEY.get(f"{row_key}.{m.group(1)}.{m.group(3)}")
            rows = BY_KEY.get(f"{row_key}.{m.group(1)}")
            out.append(f"{spec.label if spec else m.group(3)} of {rows.row_label if rows else m.group(1)} "
                       f"{int(m.group(2)) + 1}")
        else:
            spec = BY_KEY.get(f"{row_key}.{name}")
            out.append(spec.label if spec else name)
    return ", ".join(out)


def clinical_text(problem: Mapping[str, Any]) -> str:
    """A validation problem in the form's words, with the allowed values or range (decision record 0040). The place
    is not repeated: the message stands next to its field, or `where_label` names it."""
    where = problem.get("field") or ""
    msg = str(problem.get("message") or "")
    spec = BY_KEY.get(_key(where))
    allowed = problem.get("allowed")
    if spec is not None and spec.kind in ("integer", "number"):
        whole = "a whole number" if spec.kind == "integer" else "a number"
        span = range_text(spec)
        if m := _RANGE.match(msg):
            return f"must be {span} (got {m.group(1)})"
        if msg.startswith("expected "):
            return f"must be {whole}{' ' + span if span else ''}; got {msg.split(', got ', 1)[-1]}"
    if spec is not None and spec.choices and (m := re.match(r"^'(.*)' is not an allowed value$", msg)):
        return f"'{m.group(1)}' is not one of the choices; choose one of: " + ", ".join(lab for _, lab in spec.choices)
    if msg == "Field required":
        return "required here; give it, or leave the whole group blank"
    if msg == "unknown field":
        return "is not a field of this form"
    row_key = _key(where)
    if (spec is not None and spec.kind == "repeat") or re.search(r"\[\d+\]$", where):
        def organ(m: re.Match[str]) -> str:
            names = m.group(1)
            one = ", " not in names
            organs = m.group(2).replace(" (which lung) or liver (which lobe)", " or liver")
            return (f"{_named(row_key, names)} {'belongs' if one else 'belong'} only to {organs} sites; this row is "
                    f"{m.group(3).replace('_', ' ')}: clear {'it' if one else 'them'} or change the organ")
        msg = _ORGAN.sub(organ, msg)
    if spec is not None and spec.kind in ("group", "repeat"):  # a rule across fields: their names in words
        for child in sorted(spec.children, key=lambda c: -len(c.name)):
            if "_" in child.name:
                msg = re.sub(rf"\b{child.name}\b", child.label, msg)
    text = msg
    if allowed and "allowed" not in text:
        text += f" (allowed: {allowed})"
    return text


def place_problems(problems: list[dict[str, Any]], paths: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Attach each problem, in the form's words, to the nearest field or group the form shows; the rest go to the
    summary, named by their place in the form."""
    placed: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in problems:
        where = p.get("field") or ""
        target = where
        while target and target not in paths:
            target = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", target) if re.search(r"[.\[]", target) else ""
        text = clinical_text(p)
        if target:
            if target != where:
                text = f"{where_label(where)}: {text}"
            placed.setdefault(target, []).append(text)
        else:
            rest.append(f"{where_label(where)}: {text}" if where else text)
    return placed, rest


def messages(problems: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each problem's field path, place and text in the form's words, for the page's validate-as-you-type."""
    return [{"field": p.get("field") or "", "where": where_label(p.get("field") or ""), "text": clinical_text(p)}
            for p in problems]


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
