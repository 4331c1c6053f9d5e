"""The Patient elements that have no standard FHIR code: read from mcrc's own code system (decision record 0041).

mCODE and the Genomics Reporting IG carry the diagnosis, stage, markers, variants, performance status and
treatments; they have no element for the MDT's judgements (resectability of a site or of the primary, fitness
for surgery or for intensive therapy), for lesion details the rules read (count, largest size, lung zone, PCI...),
for the patient's wishes or for where they are treated. Those are Observations coded in
`https://mcrc.example/fhir/CodeSystem/mcrc-patient`, whose codes are the Patient model's own JSON paths
("primary.resectability", "metastases.count", "fitness.fit_for_surgery"): one code per element, so nothing
needs a separate mapping table and the JSON documentation (docs/) is the definition of every code.

- A site's element (`metastases.*`) names its site by `Observation.focus`: a SecondaryCancerCondition of the
  Bundle. An element of the primary may name the PrimaryCancerCondition, or nothing.
- The value has the JSON type of the element: valueBoolean, valueInteger, valueQuantity (sizes: UCUM `mm` or
  `cm`; distances: `cm`), valueDateTime (dates), and for a word from the model's list valueCodeableConcept with
  a coding in `https://mcrc.example/fhir/CodeSystem/mcrc-value` whose code is that word ("unresectable").
- `metastases.lesions` is one lesion of the site listed one by one, its details as components coded with the
  SingleLesion fields (`size`, `zone`, `side`, `suitable_for_resection`); the lesions keep the Bundle's order.

Anything else (an unknown path, a value of the wrong type or not in the list, a site that is not found) is
reported as unmapped with the resource and element, never guessed. Where a standard element says the same thing
(e.g. a KRAS variant), both are read and must agree; a disagreement leaves the element unknown, with a warning.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel

from mcrc import patient as pm

PATIENT_CS = "https://mcrc.example/fhir/CodeSystem/mcrc-patient"
VALUE_CS = "https://mcrc.example/fhir/CodeSystem/mcrc-value"
EXT = "https://mcrc.example/fhir/StructureDefinition/"
# the CarePlan's code system (mcrc.fhir.write.CODE_SYSTEM): mcrc's regimen codes
REGIMEN_CS = "https://mcrc.example/fhir/CodeSystem/mcrc"

# Elements read from standard resources only (a project code for them would be a second, competing way to say
# the same thing): identity and demographics, the Patient resource; ECOG, CEA, TNM (LOINC); the primary's site and
# diagnosis date (PrimaryCancerCondition); a site's organ and date found (SecondaryCancerCondition); history.
STANDARD_ONLY = {"id", "age", "sex", "ecog", "cea_ng_ml", "schema_version", "primary.location", "primary.diagnosed",
                 "primary.ct", "primary.cn", "primary.pt", "primary.pn", "primary.ypt", "primary.ypn",
                 "metastases.organ", "metastases.found", "treatment_history"}

_MODELS: dict[str, type[BaseModel]] = {"": pm.Patient, "primary": pm.Primary, "metastases": pm.Lesion,
                                       "biomarkers": pm.Biomarkers, "biomarkers.ctdna": pm.Ctdna,
                                       "fitness": pm.Fitness, "preferences": pm.Preferences,
                                       "symptoms": pm.Symptoms}
LESION_COMPONENTS = ("size", "zone", "side", "suitable_for_resection")


def _kind(annotation: Any) -> tuple[str, tuple[Any, ...]]:
    """('bool'|'int'|'float'|'date'|'size'|'word'|'other', allowed words) of a model field's annotation."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    if len(args) != 1:
        return "other", ()
    arg = args[0]
    while typing.get_origin(arg) is typing.Annotated:
        arg = typing.get_args(arg)[0]
    if typing.get_origin(arg) is Literal:
        return "word", typing.get_args(arg)
    if arg is bool:
        return "bool", ()
    if arg is int:
        return "int", ()
    if arg is float:
        return "float", ()
    if arg is dt.date:
        return "date", ()
    if arg is pm.Size:
        return "size", ()
    return "other", ()


def element(path: str) -> tuple[str, tuple[Any, ...]] | None:
    """The kind of value a project code (a Patient JSON path) takes; None when it is not one mcrc reads."""
    if path in STANDARD_ONLY or path == "metastases.lesions":
        return None
    parent, _, name = path.rpartition(".")
    model = _MODELS.get(parent)
    if model is None or name not in model.model_fields or path in _MODELS:
        return None
    kind = _kind(model.model_fields[name].annotation)
    return None if kind[0] == "other" else kind


def all_codes() -> list[str]:
    """Every code of the mcrc-patient code system (for docs/fhir-codes.md and the tests)."""
    out = []
    for parent, model in _MODELS.items():
        for name in model.model_fields:
            path = f"{parent}.{name}" if parent else name
            if element(path) is not None:
                out.append(path)
    return [*out, "metastases.lesions"]


def value_of(holder: Any, kind: str, allowed: tuple[Any, ...]) -> tuple[bool, Any]:
    """(True, value) from an Observation or component's value[x]; (False, why) when it does not fit the kind."""
    if kind == "bool":
        v = holder.valueBoolean
        return (True, v) if v is not None else (False, "expects valueBoolean")
    if kind == "int":
        v = holder.valueInteger
        return (True, v) if v is not None else (False, "expects valueInteger")
    if kind == "date":
        v = holder.valueDateTime
        if v is None:
            return False, "expects valueDateTime (a full date)"
        text = v.isoformat() if hasattr(v, "isoformat") else str(v)
        try:
            return True, dt.date.fromisoformat(text[:10])
        except ValueError:
            return False, f"valueDateTime '{text}' is not a full date"
    if kind in ("size", "float"):
        q = holder.valueQuantity
        if q is None or q.value is None:
            return False, "expects valueQuantity"
        unit = q.code or q.unit
        if kind == "size":
            if unit not in ("mm", "cm"):
                return False, f"size unit '{unit}' is not mm or cm"
            return True, {"value": float(q.value), "unit": unit}
        if unit not in ("cm", None):
            return False, f"unit '{unit}' (expects cm)"
        return True, float(q.value)
    # a word of the model's list
    cc = holder.valueCodeableConcept
    codes = [c.code for c in (cc.coding or []) if c.code] if cc is not None else []
    words = [c.code for c in (cc.coding or []) if c.system == VALUE_CS] if cc is not None else []
    if not words:
        return False, f"expects valueCodeableConcept with a {VALUE_CS} code" + (f" (got {', '.join(codes)})"
                                                                               if codes else "")
    if words[0] not in allowed:
        return False, f"'{words[0]}' is not one of {', '.join(map(str, allowed))}"
    return True, words[0]


def project_codes(cc: Any) -> list[str]:
    return [c.code for c in (cc.coding or []) if c.system == PATIENT_CS and c.code] if cc is not None else []


def observation(reader: Any, res: Any) -> None:
    """Read one mcrc-patient Observation into the reader's pending elements (resolved in `apply`)."""
    codes = project_codes(res.code)
    path = codes[0]
    where = f"Observation/{res.id or '(no id)'}"
    if len(set(codes)) > 1:
        reader.skip(res, f"several {PATIENT_CS} codes ({', '.join(codes)}); which element is meant is unclear")
        return
    focus = [f.reference for f in res.focus or [] if f.reference]
    if path == "metastases.lesions":
        lesion: dict[str, Any] = {}
        for i, comp in enumerate(res.component or []):
            names = project_codes(comp.code)
            name = names[0] if names else None
            if name not in LESION_COMPONENTS:
                reader.unmapped.append(f"{where}.component[{i}]: code not one of {', '.join(LESION_COMPONENTS)}")
                continue
            kind = _kind(pm.SingleLesion.model_fields[name].annotation)
            ok, value = value_of(comp, *kind)
            if not ok:
                reader.unmapped.append(f"{where}.component[{i}].value[x]: {name} {value}")
                continue
            lesion[name] = value
        reader.pending.append((res, path, focus, lesion))
        return
    spec = element(path)
    if spec is None:
        why = ("has a standard code; read from the standard resource instead" if path in STANDARD_ONLY
               else "is not an element mcrc reads")
        reader.unmapped.append(f"{where}.code: {path} {why}")
        return
    ok, value = value_of(res, *spec)
    if not ok:
        reader.unmapped.append(f"{where}.value[x]: {path} {value}")
        return
    reader.pending.append((res, path, focus, value))


def apply(reader: Any) -> None:
    """Put the pending elements in place: sites by their focus, the rest by path; disagreements left unknown."""
    for res, path, focus, value in reader.pending:
        where = f"Observation/{res.id or '(no id)'}"
        parent, _, name = path.rpartition(".")
        if parent == "metastases":
            organs = {reader.condition_organs[r] for r in focus if r in reader.condition_organs}
            if len(organs) != 1 or next(iter(organs)) not in reader.lesions:
                reader.unmapped.append(f"{where}.focus: {path} needs a focus on one SecondaryCancerCondition of "
                                       "this Bundle")
                continue
            organ = next(iter(organs))
            target = reader.lesions[organ]
            reader.origin(f"metastases[{list(reader.lesions).index(organ)}].{name}", res)
            if name == "lesions":
                target.setdefault("lesions", []).append(value)
                continue
        elif parent == "primary":
            target = reader.primary
            reader.origin(path, res)
        elif parent == "":
            target = reader.data
        else:
            target = reader.data
            for part in parent.split("."):
                target = (reader.bio if part == "biomarkers" and target is reader.data
                          else target.setdefault(part, {}))
        reader.put(target, name, value, f"{where}: {path}")
