"""FHIR in, completely (issue 21 item 1, decision record 0041).

- Every sample Bundle of examples/fhir/ reads, with nothing unmapped, into the Patient of its JSON twin in
  examples/ and gets the same answer (scope, goal, strategies with their steps, regimens, warnings).
- Every example of examples/ written as a Bundle (`patient_bundle`) reads back into the same Patient.
- What cannot be mapped is reported with the resource and the element, never guessed.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import mcrc
from mcrc.fhir import read_bundle
from mcrc.fhir.bundle import patient_bundle
from mcrc.fhir.read_mcrc import EXT, PATIENT_CS, VALUE_CS, all_codes, element
from mcrc.patient import parse_patient

TODAY = dt.date(2026, 11, 23)
ROOT = Path(__file__).resolve().parents[1]
FHIR_DIR = ROOT / "examples" / "fhir"
EXAMPLES = ROOT / "examples"

# sample Bundle -> its JSON twin (examples/<twin>.json)
TWINS = {
    "01-sync-rectal-lung-mets": "93-fhir-01-sync-rectal-lung-mets",
    "02-left-colon-ras-wt-liver": "94-fhir-02-left-colon-ras-wt-liver",
    "03-right-colon-kras-g12c-after-two-lines": "95-fhir-03-right-colon-kras-g12c-after-two-lines",
    "04-dmmr-caecum": "96-fhir-04-dmmr-caecum",
    "05-rectal-peritoneal": "97-fhir-05-rectal-peritoneal",
    "06-second-line-after-folfox-bev-kras-mutant": "59-treated-second-line-after-folfox-bev-kras-mutant",
    "07-after-folfiri-cetuximab-left-ras-wt": "60-treated-second-line-after-folfiri-cetuximab-left-ras-wt",
    "08-relapse-during-adjuvant-capox": "63-treated-relapse-during-adjuvant-capox",
    "09-third-line-after-short-course-radiotherapy":
        "64-treated-third-line-after-oxaliplatin-irinotecan-kras-mutant",
    "10-oxaliplatin-neuropathy-then-progression": "67-treated-oxaliplatin-neuropathy-then-folfiri-bev-progression",
    "11-anti-egfr-rechallenge-candidate": "70-treated-anti-egfr-rechallenge-candidate",
}


def _bundle(name: str) -> dict:
    return json.loads((FHIR_DIR / f"{name}.json").read_text())


def _twin(name: str) -> dict:
    return json.loads((EXAMPLES / f"{TWINS[name]}.json").read_text())


def _answer(a: mcrc.Assessment) -> dict[str, Any]:
    return {"scope": a.scope.status, "goal": a.goal.code if a.goal else None,
            "strategies": [(s.id, [st.code for st in s.steps], [st.regimens for st in s.steps])
                           for s in a.strategies],
            "regimens": [r.code for r in a.regimens], "warnings": sorted(w.code for w in a.warnings),
            "current_standard": [c.code for c in a.current_standard]}


def _same_but_id(a: mcrc.Patient, b: mcrc.Patient) -> bool:
    one, two = (p.model_dump(mode="json", exclude_none=True) for p in (a, b))
    one.pop("id", None)
    two.pop("id", None)
    return one == two


def test_every_sample_bundle_has_a_twin_and_at_least_five_are_treated_patients():
    assert sorted(p.stem for p in FHIR_DIR.glob("*.json")) == sorted(TWINS)
    treated = [n for n in TWINS
               if any(c.get("intent") in ("palliative", "adjuvant")
                      for c in (_twin(n).get("treatment_history") or {}).get("courses") or [])]
    assert len(treated) >= 6
    stopped = {c.get("stop_reason") for n in treated for c in _twin(n)["treatment_history"]["courses"]}
    assert {"progression", "toxicity", "completed"} <= stopped
    assert any(_twin(n)["treatment_history"].get("radiotherapy") for n in treated)
    assert any(_twin(n)["primary"].get("status") == "resected" for n in treated)


@pytest.mark.parametrize("name", sorted(TWINS))
def test_sample_bundle_gives_the_answer_of_its_json_twin(name):
    result = read_bundle(_bundle(name), today=TODAY)
    assert result.unmapped == [] and result.warnings == []
    twin = parse_patient(_twin(name), today=TODAY)
    assert _same_but_id(result.patient, twin)
    from_fhir = mcrc.assess(result.patient, today=TODAY)
    from_json = mcrc.assess(twin, today=TODAY)
    assert _answer(from_fhir) == _answer(from_json)


def test_sample_bundles_now_give_strategies_and_regimens():
    """The five original samples came back as "refer to MDT" with no strategy and no regimen. Four now get a
    strategy, three of them with regimens; the KRAS G12C patient after two lines is still referred (lung metastases
    found after the primary: the lung consensus's individual decision), with the approved KRAS G12C option beside
    it."""
    answers = {name: mcrc.assess(read_bundle(_bundle(name), today=TODAY).patient, today=TODAY)
               for name in sorted(TWINS)[:5]}
    for name, a in answers.items():
        if not name.startswith("03"):
            assert a.scope.status == "in_scope" and a.strategies, name
    assert sum(bool(a.regimens) for a in answers.values()) >= 3  # 01 is a surgical route (no regimen listed)
    g12c = answers["03-right-colon-kras-g12c-after-two-lines"]
    assert any("sotorasib" in c.regimens[0].lower() or "sotorasib" in c.option.lower()
               for c in g12c.current_standard), [c.option for c in g12c.current_standard]


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.stem[:12])
def test_every_example_round_trips_through_a_bundle(path):
    patient = parse_patient(json.loads(path.read_text()), today=dt.date.today())
    bundle = patient_bundle(patient, today=dt.date.today())
    result = read_bundle(json.loads(json.dumps(bundle)), today=dt.date.today())
    assert result.unmapped == [] and result.warnings == []
    assert result.patient == patient


def test_every_project_code_is_documented():
    doc = (ROOT / "docs" / "fhir-codes.md").read_text()
    missing = [code for code in all_codes() if f"`{code}`" not in doc]
    assert missing == []
    assert element("primary.resectability") == ("word", ("resectable", "potentially_resectable", "unresectable"))
    assert element("ecog") is None and element("primary.nonsense") is None


# ---- unmapped reports: the resource and the element, nothing guessed ------------------------------------------
def _sample(name: str = "06-second-line-after-folfox-bev-kras-mutant") -> dict:
    return _bundle(name)


def _resources(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def _project(bundle: dict, path: str) -> dict:
    return next(r for r in _resources(bundle, "Observation")
                if any(c.get("system") == PATIENT_CS and c.get("code") == path for c in r["code"].get("coding", [])))


def test_a_wrong_value_is_reported_with_its_element_and_left_unknown():
    bundle = _sample()
    obs = _project(bundle, "metastases.resectability")
    obs["valueCodeableConcept"]["coding"][0]["code"] = "probably"
    result = read_bundle(bundle, today=TODAY)
    assert any(u.startswith(f"Observation/{obs['id']}.value[x]: metastases.resectability 'probably' is not one of")
               for u in result.unmapped), result.unmapped
    assert result.patient.metastases[0].resectability is None


@pytest.mark.parametrize("change, expected", [
    (lambda o: o.update(valueInteger=3, valueCodeableConcept=None), "expects valueCodeableConcept"),
    (lambda o: o["code"]["coding"][0].update(code="primary.colour"), "primary.colour is not an element mcrc reads"),
    (lambda o: o["code"]["coding"][0].update(code="ecog"), "ecog has a standard code"),
    (lambda o: o.pop("focus"), "needs a focus on one SecondaryCancerCondition"),
])
def test_project_code_problems_are_reported(change, expected):
    bundle = _sample()
    obs = _project(bundle, "metastases.resectability")
    change(obs)
    if obs.get("valueCodeableConcept", 1) is None:
        obs.pop("valueCodeableConcept")
    result = read_bundle(bundle, today=TODAY)
    assert any(u.startswith(f"Observation/{obs['id']}") and expected in u for u in result.unmapped), result.unmapped


def test_two_records_that_disagree_leave_the_element_unknown_with_a_warning():
    bundle = _sample()
    extra = copy.deepcopy(_project(bundle, "fitness.fit_for_surgery"))
    extra["id"] = "second-opinion"
    extra["valueBoolean"] = not extra["valueBoolean"]
    bundle["entry"].append({"fullUrl": "urn:uuid:second-opinion", "resource": extra})
    result = read_bundle(bundle, today=TODAY)
    assert result.patient.fitness.fit_for_surgery is None
    assert any("second-opinion" in w and "fitness.fit_for_surgery" in w for w in result.warnings)


def test_termination_reasons_map_to_stop_reasons_and_unknown_ones_are_reported():
    bundle = _sample()
    p = read_bundle(bundle, today=TODAY).patient
    assert [c.stop_reason for c in p.treatment_history.courses] == ["completed", "progression"]
    med = next(m for m in _resources(bundle, "MedicationAdministration")
               if m["statusReason"][0]["coding"][0]["code"] == "266721009")
    med["statusReason"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "123456789"}]}]
    result = read_bundle(bundle, today=TODAY)
    assert any(u.startswith(f"MedicationAdministration/{med['id']}.statusReason: statusReason not recognised")
               for u in result.unmapped)
    # the other drugs still say progression, this one nothing: the course keeps progression
    assert result.patient.treatment_history.courses[1].stop_reason == "progression"
    med["statusReason"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "407563006"}]}]
    result = read_bundle(bundle, today=TODAY)
    assert result.patient.treatment_history.courses[1].stop_reason is None  # toxicity vs progression: unknown
    assert any("different stop reasons" in w for w in result.warnings)


def test_toxicity_names_the_drug_not_tolerated():
    p = read_bundle(_bundle("10-oxaliplatin-neuropathy-then-progression"), today=TODAY).patient
    tox = [c for c in p.treatment_history.courses if c.stop_reason == "toxicity"]
    assert tox and tox[0].toxicity_drugs == ["oxaliplatin"]


def test_radiotherapy_needs_its_kind_and_the_history_needs_its_list():
    bundle = _bundle("09-third-line-after-short-course-radiotherapy")
    p = read_bundle(bundle, today=TODAY).patient
    assert [(r.kind, r.site) for r in p.treatment_history.radiotherapy] == [("short_course", "pelvis")]
    rt = next(r for r in _resources(bundle, "Procedure")
              if r["code"]["coding"][0]["code"] == "1217123003")
    rt["extension"] = []
    result = read_bundle(bundle, today=TODAY)
    assert any(u.startswith(f"Procedure/{rt['id']}.extension: radiotherapy kind not given") for u in result.unmapped)
    # a course that cannot be recorded leaves the whole list unknown, never a shorter list read as complete
    assert result.patient.treatment_history.radiotherapy is None
    assert "treatment_history.radiotherapy: left unknown" in " ".join(result.unmapped)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"] is not rt]
    bundle["entry"] = [e for e in bundle["entry"] if not (  # without its List the radiotherapy history is unknown
        e["resource"]["resourceType"] == "List"
        and e["resource"]["code"]["coding"][0]["code"] == "treatment_history.radiotherapy")]
    assert read_bundle(bundle, today=TODAY).patient.treatment_history.radiotherapy is None


def test_no_list_means_the_history_is_unknown_and_an_empty_list_needs_nilknown():
    bundle = _bundle("01-sync-rectal-lung-mets")
    assert read_bundle(bundle, today=TODAY).patient.treatment_history.courses == []
    lists = _resources(bundle, "List")
    lists[0].pop("emptyReason")
    result = read_bundle(bundle, today=TODAY)
    assert any(u.startswith(f"List/{lists[0]['id']}:") and "nilknown" in u for u in result.unmapped)
    assert result.patient.treatment_history.courses is None
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "List"]
    assert read_bundle(bundle, today=TODAY).patient.treatment_history is None


def test_a_regimen_that_does_not_match_its_drugs_is_not_recorded():
    bundle = _sample()
    for med in _resources(bundle, "MedicationAdministration"):
        for ext in med["extension"]:
            if ext["url"] == EXT + "mcrc-regimen" and ext["valueCodeableConcept"]["coding"][0]["code"] == "CAPOX":
                ext["valueCodeableConcept"]["coding"][0]["code"] = "FOLFIRI"
    result = read_bundle(bundle, today=TODAY)
    assert any("regimen 'FOLFIRI' does not match the drugs given" in u for u in result.unmapped)
    assert result.patient.treatment_history.courses is None  # one line fewer would be a wrong line count


def test_a_primary_resection_against_a_primary_in_place_leaves_the_status_unknown():
    bundle = _sample()
    bundle["entry"].append({"resource": {
        "resourceType": "Observation", "id": "in-place", "status": "final",
        "code": {"coding": [{"system": PATIENT_CS, "code": "primary.status"}]},
        "valueCodeableConcept": {"coding": [{"system": VALUE_CS, "code": "in_place"}]}}})
    result = read_bundle(bundle, today=TODAY)
    assert result.patient.primary.status is None
    assert any("contradicts a primary resection" in w for w in result.warnings)


def test_a_standard_record_and_a_project_record_that_disagree_leave_the_element_unknown():
    bundle = _bundle("02-left-colon-ras-wt-liver")
    bundle["entry"].append({"resource": {
        "resourceType": "Observation", "id": "liver-bilobar-no", "status": "final",
        "code": {"coding": [{"system": PATIENT_CS, "code": "metastases.bilobar"}]},
        "focus": [{"reference": "Condition/fhir-02-met-liver-1"}], "valueBoolean": False}})
    result = read_bundle(bundle, today=TODAY)
    assert result.patient.metastases[0].bilobar is None
    assert any("bilobar" in w for w in result.warnings)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["id"] == "liver-bilobar-no"
                       or "metastases.bilobar" not in json.dumps(e["resource"].get("code"))]
    liver = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "fhir-02-met-liver-1")
    liver["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "48521005"}]},
                         {"coding": [{"system": "http://snomed.info/sct", "code": "69842003"}]}]
    both = read_bundle(bundle, today=TODAY)  # both lobes named, the MDT record says not bilobar
    assert both.patient.metastases[0].bilobar is None
    assert any("both sides" in w for w in both.warnings), both.warnings


EVERY_ELEMENT = {  # what no example holds: undated courses, agents not recorded, other stop reasons, odd sites
    "schema_version": "2", "id": "every-element", "age": 70, "sex": "male", "ecog": 2, "cea_ng_ml": 3.5,
    "region": "japan", "tumour_burden": "low", "hereditary_syndrome": "none", "second_primary_cancer": "remote",
    "primary": {"location": "rectum", "rectal_third": "upper", "distance_from_anal_verge_cm": 12.5, "ct": "T4b",
                "cn": "N2b", "ypt": "T0", "ypn": "N0", "diagnosed": "2024-01-10", "status": "local_recurrence",
                "resected_on": "2024-06-01", "resectability": "potentially_resectable", "emergency": "bleeding"},
    "metastases": [
        {"organ": "lung", "lesions": [{"size": {"value": 0.8, "unit": "cm"}, "zone": "outer", "side": "left",
                                       "suitable_for_resection": True},
                                      {"zone": "inner", "side": "right", "suitable_for_resection": False}],
         "timing": "metachronous", "hilar_mediastinal_nodes": True, "complete_response": False},
        {"organ": "other", "count": 1, "nature_indeterminate": True},
        {"organ": "liver", "count": 4, "disappeared_count": 1, "multifocal_stage": "early",
         "major_resection_needed": False, "small_and_accessible": True}],
    "biomarkers": {"kras": "mutant", "kras_variant": "other", "braf": "non_v600e", "her2": "positive",
                   "her2_method": "ihc", "her2_ihc_score": "3+", "ntrk_fusion": False, "ret_fusion": False,
                   "specimen": "metastasis",
                   "ctdna": {"ras": "wild_type", "braf": "wild_type", "egfr_ectodomain": "mutant",
                             "date": "2026-10-01"}},
    "treatment_history": {
        "courses": [{"intent": "neoadjuvant", "regimen": "CAPECITABINE", "stop_reason": "completed"},
                    {"intent": "palliative", "line": 1, "stop_reason": "patient_choice"},
                    {"intent": "palliative", "line": 2, "drugs": ["fluorouracil", "panitumumab"],
                     "started": "2026-01-05", "ended": "2026-05-04", "stop_reason": "other",
                     "best_response": "stable"},
                    {"intent": "palliative", "line": 3, "regimen": "FOLFIRI", "started": "2026-06-01",
                     "stop_reason": "ongoing"}],
        "radiotherapy": [{"kind": "long_course_chemoradiotherapy", "site": "pelvis"},
                         {"kind": "sbrt", "site": "other", "started": "2025-02-01", "ended": "2025-02-10"}],
        "procedures": [{"kind": "primary_resection", "date": "2024-06-01", "margin": "R1"},
                       {"kind": "hai_pump"}]},
    "fitness": {"fit_for_surgery": False}, "preferences": {"declines_surgery": True},
    "symptoms": {"bone_pain": True}, "ned": False,
}


def test_elements_no_example_holds_round_trip_too():
    patient = parse_patient(EVERY_ELEMENT, today=TODAY)
    bundle = patient_bundle(patient, today=TODAY)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"MedicationStatement", "MedicationAdministration", "List", "Procedure"} <= kinds  # undated: statements
    result = read_bundle(bundle, today=TODAY)
    assert result.unmapped == [] and result.warnings == []
    assert result.patient == patient
    courses = result.patient.treatment_history.courses
    assert [c.stop_reason for c in courses] == ["completed", "patient_choice", "other", "ongoing"]
    assert courses[1].drug_codes() is None  # agents not recorded stay unknown


def test_medication_requests_carry_intent_and_termination_reason_too():
    bundle = _sample()
    for med in _resources(bundle, "MedicationAdministration"):
        period = med.pop("effectivePeriod")
        med.update(resourceType="MedicationRequest", intent="order", authoredOn=period["start"],
                   statusReason=med["statusReason"][0])  # a request's statusReason is one CodeableConcept
    courses = read_bundle(bundle, today=TODAY).patient.treatment_history.courses
    assert [(c.intent, c.regimen, c.stop_reason, str(c.started)) for c in courses] == [
        ("adjuvant", "CAPOX", "completed", "2023-06-12"), ("palliative", "FOLFOX_BEV", "progression", "2026-01-12")]
    assert courses[1].ended is None  # a request does not say when the drug was last given


def test_resources_that_make_an_impossible_record_together_are_named():
    bundle = _bundle("01-sync-rectal-lung-mets")  # a rectal primary with its distance from the anal verge
    primary = next(r for r in _resources(bundle, "Condition") if r["id"] == "fhir-01-primary")
    primary["bodySite"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "60184004"}]}]  # sigmoid
    primary["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C18.7"}]}
    distance = _project(bundle, "primary.distance_from_anal_verge_cm")
    with pytest.raises(mcrc.InputError) as err:
        read_bundle(bundle, today=TODAY)
    text = str(err.value)
    assert "applies only to a rectal primary" in text
    assert f"Observation/{distance['id']}" in text and "Condition/fhir-01-primary" in text
