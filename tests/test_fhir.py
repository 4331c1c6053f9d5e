"""FHIR R4B: mCODE-style Bundles in examples/fhir/ read into Patients; Assessments write back as CarePlans."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from fhir.resources.R4B.careplan import CarePlan

import mcrc
from mcrc.fhir import careplan, read_bundle

TODAY = dt.date(2026, 11, 23)
FHIR_DIR = Path(__file__).resolve().parents[1] / "examples" / "fhir"

EXPECTED = {
    "01-sync-rectal-lung-mets": dict(location="rectum", organs=["lung"], kras="wild_type", nras="wild_type",
                                     braf="wild_type", mmr=None, msi="stable", ecog=0),
    "02-left-colon-ras-wt-liver": dict(location="sigmoid_colon", organs=["liver"], kras="wild_type",
                                       nras="wild_type", braf="wild_type", mmr="proficient", msi="stable", ecog=0),
    "03-right-colon-kras-g12c-after-two-lines": dict(location="ascending_colon", organs=["liver", "lung"],
                                                     kras="mutant", nras=None, braf="wild_type", mmr=None,
                                                     msi="stable", ecog=1),
    "04-dmmr-caecum": dict(location="caecum", organs=["liver"], kras="wild_type", nras="wild_type",
                           braf="wild_type", mmr="deficient", msi="msi_high", ecog=1),
    "05-rectal-peritoneal": dict(location="rectum", organs=["peritoneum"], kras="mutant", nras=None,
                                 braf="wild_type", mmr=None, msi="stable", ecog=1),
}


def _load(name: str) -> dict:
    return json.loads((FHIR_DIR / f"{name}.json").read_text())


def test_examples_are_all_covered_and_outside_the_golden_glob():
    assert sorted(p.stem for p in FHIR_DIR.glob("*.json")) == sorted(EXPECTED)
    # tests/test_golden.py reads examples/*.json as mcrc Patients; Bundles must stay in the subdirectory
    assert not any(json.loads(p.read_text()).get("resourceType") for p in FHIR_DIR.parent.glob("*.json"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_bundle_reads_into_an_assessable_patient(name):
    want = EXPECTED[name]
    result = read_bundle(_load(name), today=TODAY)
    p = result.patient
    assert result.unmapped == [] and result.warnings == []
    assert p.primary.location == want["location"]
    assert sorted(m.organ for m in p.metastases) == want["organs"]
    assert (p.biomarkers.kras, p.biomarkers.nras, p.biomarkers.braf) == (want["kras"], want["nras"], want["braf"])
    assert (p.biomarkers.mmr, p.biomarkers.msi) == (want["mmr"], want["msi"])
    assert p.ecog == want["ecog"]
    assessment = mcrc.assess(p, today=TODAY)
    assert assessment.patient_id == p.id
    CarePlan.model_validate(careplan(assessment, f"Patient/{p.id}"))


def test_key_details_of_the_kras_g12c_patient():
    p = read_bundle(_load("03-right-colon-kras-g12c-after-two-lines"), today=TODAY).patient
    assert p.biomarkers.kras_variant == "G12C"
    assert p.primary.status == "resected" and p.primary.resected_on == dt.date(2024, 12, 2)
    assert [(c.setting, c.regimen) for c in p.treatment_history.courses] == [
        ("palliative", "FOLFOX_BEV"), ("palliative", "FOLFIRI_BEV")]
    assert [pr.kind for pr in p.treatment_history.procedures] == ["primary_resection"]
    assert p.age == 68 and p.sex == "female"


def test_tnm_and_cea():
    p = read_bundle(_load("04-dmmr-caecum"), today=TODAY).patient
    assert (p.primary.ct, p.primary.cn, p.cea_ng_ml) == ("T4a", "N1", 15.2)


def test_careplan_carries_strategies_and_citations():
    p = read_bundle(_load("02-left-colon-ras-wt-liver"), today=TODAY).patient
    # MDT judgements that mCODE does not carry are added by the team before assessment
    data = p.model_dump(mode="json", exclude_none=True)
    data["metastases"][0].update(resectability="unresectable", count=14, bilateral=True)
    data["primary"].update(status="in_place", emergency="none", resectability="resectable")
    data.update(fitness={"fit_for_surgery": True, "fit_for_intensive_therapy": True, "adequate_organ_function": True},
                region="europe", tumour_burden="high", treatment_history={"courses": [], "procedures": []})
    assessment = mcrc.assess(data, today=TODAY)
    assert assessment.strategies
    plan = careplan(assessment, "Patient/fhir-02")
    cp = CarePlan.model_validate(plan)
    assert (cp.status, cp.intent, cp.subject.reference) == ("draft", "proposal", "Patient/fhir-02")
    step_codes = {st.code for s in assessment.strategies for st in s.steps}
    assert {a.detail.code.coding[0].code for a in cp.activity} == step_codes
    notes = " ".join(n.text for n in cp.note)
    for s in assessment.strategies:
        assert s.id in notes
        for c in s.citations:
            assert c.source in notes
    assert assessment.goal.code in notes


def test_malformed_resource_is_a_clear_input_error():
    bundle = _load("01-sync-rectal-lung-mets")
    i = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == "fhir-01-ecog")
    bundle["entry"][i]["resource"]["valueInteger"] = "zero"
    with pytest.raises(mcrc.InputError) as err:
        read_bundle(bundle, today=TODAY)
    text = str(err.value)
    assert f"Bundle.entry[{i}].resource" in text and "valueInteger" in text and "integer" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("bad", [[], {"resourceType": "Patient"}, {"resourceType": "Bundle", "entry": "not a list"}])
def test_not_a_bundle_is_an_input_error(bad):
    with pytest.raises(mcrc.InputError):
        read_bundle(bad, today=TODAY)


def test_unknown_body_site_is_unmapped():
    bundle = _load("01-sync-rectal-lung-mets")
    met = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].endswith("met-lung-1"))
    met["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "71854001", "display": "Colon"}]}]
    result = read_bundle(bundle, today=TODAY)
    assert any(u.startswith("Condition/fhir-01-met-lung-1:") and "71854001" in u for u in result.unmapped)
    assert result.patient.metastases is None  # unknown, not "none"


def test_missing_resources_leave_fields_unknown():
    bundle = _load("01-sync-rectal-lung-mets")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    p = read_bundle(bundle, today=TODAY).patient
    assert p.age == 64
    assert p.primary is None and p.metastases is None and p.biomarkers is None and p.ecog is None
    assert p.cea_ng_ml is None and p.treatment_history is None
    mcrc.assess(p, today=TODAY)


def test_unrecognised_things_are_reported_never_guessed():
    bundle = copy.deepcopy(_load("03-right-colon-kras-g12c-after-two-lines"))
    kras = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "fhir-03-kras")
    kras["valueCodeableConcept"] = {"coding": [{"system": "http://loinc.org", "code": "LA9634-2", "display": "Absent"}]}
    bundle["entry"].append({"resource": {"resourceType": "MedicationStatement", "id": "mystery", "status": "completed",
                                         "medicationCodeableConcept": {"text": "drug X"},
                                         "subject": {"reference": "Patient/fhir-03"}}})
    bundle["entry"].append({"resource": {"resourceType": "Observation", "id": "braf-nodetail", "status": "final",
                                         "code": {"coding": [{"system": "http://loinc.org", "code": "69548-6"}]},
                                         "valueCodeableConcept": {"coding": [{"system": "http://loinc.org",
                                                                              "code": "LA9633-4"}]},
                                         "component": [{"code": {"coding": [{"system": "http://loinc.org",
                                                                             "code": "48018-6"}]},
                                                        "valueCodeableConcept": {"coding": [{
                                                            "system": "http://www.genenames.org",
                                                            "code": "HGNC:1097"}]}}]}})
    result = read_bundle(bundle, today=TODAY)
    text = "\n".join(result.unmapped)
    assert "KRAS G12C absent does not establish a wild-type gene" in text
    assert "MedicationStatement/mystery: drug not recognised" in text
    assert "Observation/braf-nodetail" in text
    assert result.patient.biomarkers.kras is None and result.patient.biomarkers.braf == "wild_type"


def test_ambiguous_drug_set_is_not_mapped_to_a_regimen():
    bundle = _load("03-right-colon-kras-g12c-after-two-lines")
    bundle["entry"] = [e for e in bundle["entry"] if not e["resource"]["id"].startswith("fhir-03-l2-")]
    for e in bundle["entry"]:
        r = e["resource"]
        if r["id"] == "fhir-03-l1-bevacizumab":
            r["medicationCodeableConcept"] = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": "51499", "display": "irinotecan"}]}
            r["id"] = "fhir-03-l1-irinotecan"
    result = read_bundle(bundle, today=TODAY)
    assert any("ambiguous regimen (FOLFOXIRI, FOLFIRINOX)" in u for u in result.unmapped)
    assert result.patient.treatment_history.courses is None
