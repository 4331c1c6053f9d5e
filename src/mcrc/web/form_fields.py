"""The patient form's fields, generated from the Patient model: labels in clinical words, kinds, choices, ranges.

Field names are the patient's own field paths (`primary.location`, `metastases[0].largest_size.value`),
so the problems that `mcrc.parse_patient` reports (with those same paths) land next to the field they
name.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from mcrc.patient import (
    LIVER_LESION_FIELDS,
    LIVER_ONLY_FIELDS,
    LUNG_ONLY_FIELDS,
    PERITONEUM_ONLY_FIELDS,
    Patient,
)
from mcrc.vocabulary import load_vocabulary

INDEX = "__i__"  # placeholder for the row number in the template of a repeated group
# one placeholder per nesting depth (a metastasis row holds rows of its lesions): filling in an outer row's number
# must leave the placeholder of the rows nested in it for their own "add" button (decision record 0036)
INDEXES = (INDEX, "__j__")
LIST_STATE = "_list."  # `_list.metastases` = "" (not recorded: unknown) or "none" (an empty list)
NOT_IN_FORM = {"schema_version"}
_ACRONYMS = {"ecog": "ECOG", "cea": "CEA", "pci": "PCI", "kras": "KRAS", "nras": "NRAS", "braf": "BRAF",
             "mmr": "MMR", "msi": "MSI", "her2": "HER2", "ihc": "IHC", "ntrk": "NTRK", "ret": "RET",
             "ned": "NED", "ct": "cT", "cn": "cN", "ctdna": "ctDNA", "egfr": "EGFR", "ng": "ng", "ml": "mL",
             "id": "Case label (id)",
             # primary-tumour inputs of decision record 0035
             "pt": "pT", "pn": "pN", "ypt": "ypT", "ypn": "ypN"}


def field_key(path: str) -> str:
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
        return field_key(self.path)


def _label(name: str, path: str = "") -> str:
    if field_key(path) in LABELS:
        return LABELS[field_key(path)]
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
                     organs=ORGAN_FIELDS.get(field_key(path), ()))
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
        if name in NOT_IN_FORM:
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
                                 organs=ORGAN_FIELDS.get(field_key(path), ()),
                                 row_label=ROW_LABELS.get(field_key(path), _label(name, path))))
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            out.append(FieldSpec(name=name, path=path, label=_label(name, path), kind="group", help=info.description,
                                 children=build_spec(ann, path, depth), organs=ORGAN_FIELDS.get(field_key(path), ())))
        else:
            out.append(_leaf(name, path, ann, info.description, info.is_required(), info.metadata))
    return out


SPEC = build_spec()


def _specs_by_key() -> dict[str, FieldSpec]:
    out: dict[str, FieldSpec] = {}

    def walk(specs: list[FieldSpec]) -> None:
        for s in specs:
            out[s.key] = s
            walk(s.children)

    walk(SPEC)
    return out


BY_KEY = _specs_by_key()
