"""FHIR reader, decision record 0035: colon side without segment, pathological TNM (p and yp), Lynch syndrome,
another primary cancer; what cannot be read with certainty is reported, never guessed."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

import mcrc
from mcrc.fhir import read_bundle

TODAY = dt.date(2026, 11, 23)
FHIR_DIR = Path(__file__).resolve().parents[1] / "examples" / "fhir"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _bundle() -> dict:
    return copy.deepcopy(json.loads((FHIR_DIR / "01-sync-rectal-lung-mets.json").read_text()))


def _resource(bundle: dict, rid: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == rid)


def _add(bundle: dict, resource: dict) -> dict:
    bundle["entry"].append({"resource": {"subject": {"reference": "Patient/fhir-01"}, **resource}})
    return bundle


def _resected(bundle: dict) -> dict:
    return _add(bundle, {"resourceType": "Procedure", "id": "resection", "status": "completed",
                         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "23968004",
                                              "display": "Colectomy"}]}, "performedDateTime": "2026-10-01"})


@pytest.mark.parametrize(("code", "location", "side"), [("51342009", "right_colon", "right"),
                                                        ("55572008", "left_colon", "left")])
def test_colon_side_without_segment(code: str, location: str, side: str) -> None:
    bundle = _bundle()
    primary = _resource(bundle, "fhir-01-primary")
    primary["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C18.9"}]}
    primary["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": code}]}]
    bundle["entry"] = [e for e in bundle["entry"]  # the MDT's rectal distance belongs to a rectal primary
                       if "primary.distance_from_anal_verge_cm" not in json.dumps(e["resource"].get("code"))]
    p = read_bundle(bundle, today=TODAY).patient
    assert p.primary.location == location
    assert mcrc.derive_facts(p, today=TODAY).get("sidedness") == side


def _path_obs(rid: str, loinc: str, text: str) -> dict:
    return {"resourceType": "Observation", "id": rid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
            "valueCodeableConcept": {"text": text}}


@pytest.mark.parametrize(("t", "n", "expected"), [
    ("pT3", "pN1a", {"pt": "T3", "pn": "N1a"}),
    ("T4b", "N0", {"pt": "T4b", "pn": "N0"}),
    ("ypT0", "ypN0", {"ypt": "T0", "ypn": "N0"}),
])
def test_pathological_categories(t: str, n: str, expected: dict) -> None:
    bundle = _resected(_bundle())
    _add(bundle, _path_obs("pt", "21899-0", t))
    _add(bundle, _path_obs("pn", "21900-6", n))
    result = read_bundle(bundle, today=TODAY)
    primary = result.patient.primary
    got = {k: getattr(primary, k) for k in ("pt", "pn", "ypt", "ypn") if getattr(primary, k)}
    assert got == expected
    assert result.patient.primary.ct == "T3"  # the clinical category stays beside it
    assert not [u for u in result.unmapped if u.startswith("Observation/p")]


@pytest.mark.parametrize("text", ["pT0", "pT5", "T three"])
def test_pathological_category_without_equivalent_is_reported(text: str) -> None:
    bundle = _add(_resected(_bundle()), _path_obs("pt", "21899-0", text))
    result = read_bundle(bundle, today=TODAY)
    assert result.patient.primary.pt is None
    assert any(u.startswith("Observation/pt:") for u in result.unmapped)


def test_lynch_condition() -> None:
    bundle = _add(_bundle(), {"resourceType": "Condition", "id": "lynch",
                              "code": {"coding": [{"system": "http://snomed.info/sct", "code": "315058005",
                                                   "display": "Hereditary nonpolyposis colon cancer"}]}})
    p = read_bundle(bundle, today=TODAY).patient
    assert p.hereditary_syndrome == "lynch"
    assert mcrc.derive_facts(p, today=TODAY).get("mmr_status") == "pmmr_mss"  # from the MSI result, not Lynch


def _other_cancer(status: str | None) -> dict:
    res = {"resourceType": "Condition", "id": "breast",
           "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C50.912"}]}}
    if status:
        res["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": status}]}
    return res


def test_an_active_other_cancer_is_a_second_primary_and_out_of_scope() -> None:
    result = read_bundle(_add(_bundle(), _other_cancer("active")), today=TODAY)
    assert result.patient.second_primary_cancer == "active"
    assert result.patient.primary.location == "rectum"  # the colorectal primary is untouched
    assert mcrc.assess(result.patient, today=TODAY).scope.status == "out_of_scope"


@pytest.mark.parametrize("status", ["remission", "resolved", None])
def test_another_cancer_not_active_is_reported_not_guessed(status: str | None) -> None:
    result = read_bundle(_add(_bundle(), _other_cancer(status)), today=TODAY)
    assert result.patient.second_primary_cancer is None
    assert any(u.startswith("Condition/breast:") and "MDT's judgement" in u for u in result.unmapped)
