"""Read an mCODE-style FHIR R4B Bundle into an mcrc Patient.

Only standard codes are mapped (SNOMED CT, LOINC, LOINC answer codes, HGNC, ICD-10, RxNorm and the
mCODE profiles' canonical URLs). Whatever cannot be mapped with certainty is reported in
`ReadResult.unmapped` as "<ResourceType>/<id>: <reason>"; nothing is guessed, and a fact with no
resource stays absent (= unknown) in the Patient.

This module checks and walks the Bundle and assembles the Patient; each resource family is read in its own module
(read_conditions, read_observations, read_treatments; read_mcrc and read_history for mcrc's own codes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from mcrc.errors import InputError, Problem
from mcrc.fhir import read_history, read_mcrc
from mcrc.fhir.read_common import CONFLICT, HGNC, ICD10, LOINC, MCODE, RXNORM, SNOMED, _date
from mcrc.fhir.read_conditions import (
    LOINC_CN,
    LOINC_CT,
    LOINC_PN,
    LOINC_PT,
    METASTASIS_SITES,
    PRIMARY_ICD10,
    PRIMARY_SITES,
    SNOMED_LYNCH,
    ConditionsReader,
)
from mcrc.fhir.read_observations import (
    ABSENT,
    LOINC_AA_CHANGE,
    LOINC_CEA,
    LOINC_ECOG,
    LOINC_GENE_STUDIED,
    LOINC_MSI,
    LOINC_VARIANT,
    MSI_ANSWERS,
    PRESENT,
    ObservationsReader,
)
from mcrc.fhir.read_treatments import (
    INTENT_EXT,
    INTENT_EXTS,
    MODULATORS,
    RXNORM_DRUGS,
    TreatmentsReader,
    medication_drugs,
)
from mcrc.patient import Patient, parse_patient

# the names other modules read from mcrc.fhir.read (the code tables live with their resource family)
__all__ = [
    "ABSENT", "BUNDLE_TYPES", "HGNC", "ICD10", "INTENT_EXT", "INTENT_EXTS", "LOINC", "LOINC_AA_CHANGE", "LOINC_CEA",
    "LOINC_CN", "LOINC_CT", "LOINC_ECOG", "LOINC_GENE_STUDIED", "LOINC_MSI", "LOINC_PN", "LOINC_PT", "LOINC_VARIANT",
    "MCODE", "METASTASIS_SITES", "MODULATORS", "MSI_ANSWERS", "PRESENT", "PRIMARY_ICD10", "PRIMARY_SITES", "RXNORM",
    "RXNORM_DRUGS", "SNOMED", "SNOMED_LYNCH", "ReadResult", "content_digest", "medication_drugs", "read_bundle",
]


@dataclass
class ReadResult:
    patient: Patient
    unmapped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Reader(ConditionsReader, ObservationsReader, TreatmentsReader):
    """One reading of a Bundle: the Patient resource here, every other family in its own reader."""

    # --- Patient -----------------------------------------------------------------------------
    def patient(self, res: Any) -> None:
        if res.id:
            self.data["id"] = res.id[:64]
        if res.birthDate:
            born = _date(res.birthDate)
            if born is None:  # a partial date (year or year-month): the age is not known to the year
                self.skip(res, f"birthDate '{res.birthDate}' is not a full date; age left unknown")
            else:
                age = self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))
                self.data["age"] = age
        if res.gender in ("male", "female"):
            self.data["sex"] = res.gender
        elif res.gender:
            self.skip(res, f"gender '{res.gender}' has no equivalent in the model")

    def result(self) -> dict[str, Any]:
        read_mcrc.apply(self)
        self._primary_status()
        data = {"schema_version": "2", **self.data}
        if self.ecog:
            data["ecog"] = self.ecog[1]
        if self.cea:
            data["cea_ng_ml"] = self.cea[1]
        if self.primary:
            data["primary"] = self.primary
        self._responses()
        if self.lesions:
            data["metastases"] = list(self.lesions.values())
        bio = dict(self.bio)
        if bio.get("kras_variant") and bio.get("kras") != "mutant":
            bio.pop("kras_variant")
        if bio:
            data["biomarkers"] = bio
        history: dict[str, Any] = {}
        for key, items in (("courses", self.courses()), ("radiotherapy", self.radiotherapy),
                           ("procedures", self.procedures)):
            if key in self.incomplete:
                self.unmapped.append(f"treatment_history.{key}: left unknown, since an item of it could not be "
                                     "recorded (above)")
            elif items or key in self.complete:
                history[key] = items
        if history:
            data["treatment_history"] = history
        return _without_conflicts(data)


def _without_conflicts(value: Any) -> Any:
    """The record without the elements whose sources disagreed (unknown), and without what is left empty."""
    if isinstance(value, dict):
        out = {k: _without_conflicts(v) for k, v in value.items() if v != CONFLICT}
        return {k: v for k, v in out.items() if v != {} or k in ("primary",)}
    if isinstance(value, list):
        return [_without_conflicts(v) for v in value]
    return value



def _bundle_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors()[:20]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ())).lstrip(".")
        problems.append(Problem(f"Bundle.{where}" if where else "Bundle", err.get("msg", "invalid")))
    return problems


# Bundle.type (FHIR R4B, required binding to http://hl7.org/fhir/bundle-type)
BUNDLE_TYPES = ("document", "message", "transaction", "transaction-response", "batch", "batch-response", "history",
                "searchset", "collection")


def _check_no_null(bundle_json: dict) -> None:
    """FHIR JSON has no null members (an element is left out instead; only arrays of primitives may hold null, to
    line up with their extensions). The R4B models would take null as absent; the specification refuses it."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str]] = [(bundle_json, "Bundle")]
    while stack and len(problems) < 10:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if child is None:
                    problems.append(Problem(f"{where}.{key}", "null is not FHIR JSON: leave the element out"))
                elif isinstance(child, (dict, list)):
                    stack.append((child, f"{where}.{key}"))
        else:
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(value) if isinstance(child, (dict, list)))
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.where))


def _check_entries(bundle_json: dict) -> None:
    """Shape errors the FHIR models report obscurely, reported here with their JSON path instead."""
    from fhir.resources.R4B import get_fhir_model_class

    entries = bundle_json.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        raise InputError([Problem("Bundle.entry", f"expected a list, got {type(entries).__name__}")])
    problems = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, f"expected an object, got {type(entry).__name__}"))
            continue
        res = entry.get("resource")
        if res is None:
            continue
        if not isinstance(res, dict):
            problems.append(Problem(f"{where}.resource", f"expected a resource object, got {type(res).__name__}"))
            continue
        kind = res.get("resourceType")
        if not isinstance(kind, str) or not kind:
            problems.append(Problem(f"{where}.resource.resourceType", "missing"))
            continue
        try:
            get_fhir_model_class(kind)
        except (KeyError, ValueError, ImportError, AttributeError):
            problems.append(Problem(f"{where}.resource.resourceType", f"'{kind[:40]}' is not a FHIR R4B resource type"))
    if problems:
        raise InputError(problems[:20])


def _with_origin(problem: Problem, origins: dict[str, set[str]]) -> Problem:
    """A problem of the record read from a Bundle, naming the resources its elements were read from."""
    where = problem.where
    refs = sorted({ref for path, found in origins.items()
                   if where in ("(patient)", "") or path == where or path.startswith((where + ".", where + "["))
                   or where.startswith((path + ".", path + "["))
                   for ref in found})
    if not refs:
        return problem
    shown = ", ".join(refs[:6]) + (f" and {len(refs) - 6} more" if len(refs) > 6 else "")
    return Problem(where, f"{problem.message} (read from {shown})", problem.allowed)


def content_digest(bundle_json: dict) -> str:
    """SHA-256 of the Bundle's canonical JSON (sorted keys, no spaces, UTF-8): equal for equal content. orjson:
    an EHR sends the record with every CDS call, and the stdlib encoder took ~9x as long (~190 us a record)."""
    try:
        canonical = orjson.dumps(bundle_json, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits from another JSON reader)
        canonical = json.dumps(bundle_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                               default=str).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


def read_bundle(bundle_json: dict, today: dt.date | None = None) -> ReadResult:
    """Map an mCODE-style Bundle to a Patient; raise InputError if the Bundle is not valid FHIR R4B."""
    from fhir.resources.R4B.bundle import Bundle

    today = today or dt.date.today()
    if not isinstance(bundle_json, dict):
        raise InputError([Problem("Bundle", f"expected a JSON object, got {type(bundle_json).__name__}")])
    if bundle_json.get("resourceType") != "Bundle":
        raise InputError([Problem("Bundle.resourceType",
                                  f"expected 'Bundle', got {bundle_json.get('resourceType')!r}")])
    _check_no_null(bundle_json)
    if bundle_json.get("type") not in BUNDLE_TYPES:  # 1..1 with a required binding; the models take any code
        raise InputError([Problem("Bundle.type", f"{bundle_json.get('type')!r} is not a FHIR R4B Bundle type",
                                  ", ".join(BUNDLE_TYPES))])
    _check_entries(bundle_json)
    try:
        bundle = Bundle.model_validate(bundle_json)
    except ValidationError as exc:
        raise InputError(_bundle_problems(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError([Problem("Bundle", f"not a valid FHIR R4B Bundle: {exc}")]) from None
    reader = _Reader(today)
    handlers = {"Patient": reader.patient, "Condition": reader.condition, "Observation": reader.observation,
                "Procedure": reader.procedure, "MedicationStatement": reader.medication,
                "MedicationAdministration": reader.medication, "MedicationRequest": reader.medication,
                "List": lambda res: read_history.history_list(reader, res)}
    patients = 0
    for entry in bundle.entry or []:
        res = entry.resource
        if res is None:
            continue
        kind = res.__resource_type__
        if kind == "Patient":
            patients += 1
            if patients > 1:
                raise InputError([Problem("Bundle.entry", "more than one Patient resource")])
        handler = handlers.get(kind)
        reader.full_url = entry.fullUrl
        if handler is None:
            reader.skip(res, f"resource type {kind} is not read")
        else:
            handler(res)
    try:
        patient = parse_patient(reader.result(), today=today)
    except InputError as exc:  # resources that each read well but together make an impossible record
        raise InputError([_with_origin(p, reader.origins) for p in exc.problems]) from None
    return ReadResult(patient=patient, unmapped=reader.unmapped, warnings=reader.warnings)
