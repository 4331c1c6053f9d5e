"""FHIR R4B: mCODE-style Bundles in examples/fhir/ read into Patients; Assessments write back as CarePlans."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcrc
from mcrc.fhir import careplan, read_bundle
from mcrc.render.outline import shown

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
    # the first five; every sample Bundle is compared with its JSON twin in tests/test_fhir_twins.py
    assert set(EXPECTED) <= {p.stem for p in FHIR_DIR.glob("*.json")}
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
    assert [(c.intent, c.regimen) for c in p.treatment_history.courses] == [
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


def test_reading_is_repeatable_and_follows_every_change_and_failure():
    bundle = _load("01-sync-rectal-lung-mets")
    first = read_bundle(bundle, today=TODAY).patient
    assert read_bundle(copy.deepcopy(bundle), today=TODAY).patient == first  # a repeat reads the same
    i = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == "fhir-01-ecog")
    changed = copy.deepcopy(bundle)
    changed["entry"][i]["resource"]["valueInteger"] = first.ecog + 1
    assert read_bundle(changed, today=TODAY).patient.ecog == first.ecog + 1  # any change is a fresh validation
    broken = copy.deepcopy(bundle)
    broken["entry"][i]["resource"]["valueInteger"] = "zero"
    for _ in range(2):  # failures are never remembered as valid
        with pytest.raises(mcrc.InputError):
            read_bundle(broken, today=TODAY)
    assert read_bundle(bundle, today=TODAY).patient == first


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


def test_ambiguous_drug_set_is_kept_as_its_drugs():
    bundle = _load("03-right-colon-kras-g12c-after-two-lines")
    bundle["entry"] = [e for e in bundle["entry"] if not e["resource"]["id"].startswith("fhir-03-l2-")]
    for e in bundle["entry"]:
        r = e["resource"]
        if r["id"] == "fhir-03-l1-bevacizumab":
            r["medicationCodeableConcept"] = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                          "code": "51499", "display": "irinotecan"}]}
            r["id"] = "fhir-03-l1-irinotecan"
    result = read_bundle(bundle, today=TODAY)
    assert any("recorded as the drugs fluorouracil, irinotecan, oxaliplatin (any of FOLFOXIRI, FOLFIRINOX)" in w
               for w in result.warnings)
    (course,) = result.patient.treatment_history.courses  # schema 2 keeps the drugs: their classes are known
    assert course.regimen is None and course.drugs == ["fluorouracil", "irinotecan", "oxaliplatin"]


# ---- broken Bundles: a clear error with its path, or unknown; never a crash ------------------------
def _with_entry(resource: dict) -> dict:
    bundle = _load("02-left-colon-ras-wt-liver")
    bundle["entry"].append(resource if "resource" in resource or resource == {} else {"resource": resource})
    return bundle


LOINC_SYS = "http://loinc.org"


@pytest.mark.parametrize("entry, where", [
    ({"resource": "not an object"}, "Bundle.entry[{n}].resource"),
    ({"resource": {"resourceType": "Banana"}}, "Bundle.entry[{n}].resource.resourceType"),
    ({"resource": {"status": "final"}}, "Bundle.entry[{n}].resource.resourceType"),
    ({"resource": {"resourceType": "Observation", "status": "final"}}, "Bundle.entry[{n}].resource.code"),
    ({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "effectiveDateTime": "2024-13-45"}}, "Bundle.entry[{n}].resource.effectiveDateTime"),
    ({"resource": {"resourceType": "Procedure", "subject": {"reference": "Patient/x"}}},
     "Bundle.entry[{n}].resource.status"),
])
def test_malformed_entries_name_their_path(entry, where):
    bundle = _load("02-left-colon-ras-wt-liver")
    n = len(bundle["entry"])
    bundle["entry"].append(entry)
    with pytest.raises(mcrc.InputError) as err:
        read_bundle(bundle, today=TODAY)
    assert any(p.where == where.format(n=n) for p in err.value.problems), [str(p) for p in err.value.problems]


def test_an_entry_that_is_not_an_object_is_an_input_error():
    bundle = _load("02-left-colon-ras-wt-liver")
    bundle["entry"].append(None)
    with pytest.raises(mcrc.InputError):
        read_bundle(bundle, today=TODAY)
    bundle["entry"][-1] = 5
    with pytest.raises(mcrc.InputError) as err:
        read_bundle(bundle, today=TODAY)
    assert err.value.problems[0].where == f"Bundle.entry[{len(bundle['entry']) - 1}]"


@pytest.mark.parametrize("resource, reason", [
    ({"resourceType": "Observation", "id": "o1", "status": "final", "code": {"text": "something"}},
     "observation code not recognised"),
    ({"resourceType": "Observation", "id": "o2", "status": "final",
      "code": {"coding": [{"system": LOINC_SYS, "code": "89247-1"}]}, "valueInteger": 7}, "ECOG value missing"),
    ({"resourceType": "Observation", "id": "o3", "status": "final",
      "code": {"coding": [{"system": LOINC_SYS, "code": "2039-6"}]}}, "CEA without a value"),
    ({"resourceType": "Observation", "id": "o4", "status": "final",
      "code": {"coding": [{"system": LOINC_SYS, "code": "69548-6"}]}}, "gene studied is not"),
    ({"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/x"}},
     "not a PrimaryCancerCondition"),
    ({"resourceType": "MedicationStatement", "id": "m1", "status": "completed", "subject": {"reference": "Patient/x"},
      "medicationReference": {"reference": "Medication/9"}}, "medication given by reference"),
    ({"resourceType": "MedicationRequest", "id": "m2", "status": "active", "intent": "order",
      "subject": {"reference": "Patient/x"}, "medicationCodeableConcept": {"text": "oxaliplatin"}},
     "history is completed, stopped"),
])
def test_incomplete_resources_are_unmapped_and_the_rest_still_reads(resource, reason):
    result = read_bundle(_with_entry(resource), today=TODAY)
    assert any(u.startswith(f"{resource['resourceType']}/{resource['id']}:") and reason in u
               for u in result.unmapped), result.unmapped
    assert result.patient.primary.location == "sigmoid_colon"
    mcrc.assess(result.patient, today=TODAY)


def test_partial_birth_date_leaves_age_unknown():
    bundle = _load("02-left-colon-ras-wt-liver")
    patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["birthDate"] = "1960"
    result = read_bundle(bundle, today=TODAY)
    assert result.patient.age is None
    assert any("not a full date; age left unknown" in u for u in result.unmapped)


def test_completed_medication_requests_are_history():
    bundle = _load("03-right-colon-kras-g12c-after-two-lines")
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] == "MedicationStatement":
            period = r.pop("effectivePeriod", None)
            r.pop("effectiveDateTime", None)
            r["resourceType"], r["intent"], r["status"] = "MedicationRequest", "order", "completed"
            r["authoredOn"] = period["start"]
            r.pop("statusReason", None)  # a request's is one CodeableConcept; its stop reason is not this test's
    p = read_bundle(bundle, today=TODAY).patient
    assert [(c.intent, c.regimen) for c in p.treatment_history.courses] == [
        ("palliative", "FOLFOX_BEV"), ("palliative", "FOLFIRI_BEV")]


def test_stu4_and_older_intent_extension_urls_both_read():
    from mcrc.fhir.read import INTENT_EXTS

    assert INTENT_EXTS[0].endswith("/mcode-procedure-intent")
    text = json.dumps(_load("03-right-colon-kras-g12c-after-two-lines"))
    older = json.loads(text.replace("mcode-procedure-intent", "mcode-treatment-intent"))
    assert len(read_bundle(older, today=TODAY).patient.treatment_history.courses) == 2


@pytest.mark.parametrize("concept, drugs", [
    ({"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "318341"}], "text": "FOLFOX"},
     {"cetuximab"}),
    ({"text": "Cetuximab 400 mg/m2 IV loading dose"}, {"cetuximab"}),
    ({"text": "Trastuzumab deruxtecan 6.4 mg/kg"}, {"trastuzumab_deruxtecan"}),
    ({"text": "5-FU bolus and leucovorin"}, {"fluorouracil", "leucovorin"}),
    ({"coding": [{"display": "Trifluridine/tipiracil 35 mg/m2"}]}, {"trifluridine_tipiracil"}),
    ({"text": "Cetuximabine (invented)"}, set()),
    ({"text": "drug X"}, set()),
])
def test_medication_names_and_codes(concept, drugs):
    from fhir.resources.R4B.codeableconcept import CodeableConcept

    from mcrc.fhir.read import medication_drugs

    assert medication_drugs(CodeableConcept.model_validate(concept)) == drugs


# ---- POST /api/v1/fhir/assess -----------------------------------------------------------------------
@pytest.fixture
def api(tmp_path):
    from fastapi.testclient import TestClient

    from mcrc.api.app import Settings, create_app
    from mcrc.store import Store

    url = f"sqlite:///{tmp_path / 'fhir.db'}"
    Store(url).upgrade()
    with TestClient(create_app(Settings(database_url=url, open_assess=True))) as c:
        yield c


def test_fhir_assess_answers_a_careplan_and_the_unmapped_report(api):
    bundle = _load("03-right-colon-kras-g12c-after-two-lines")
    bundle["entry"].append({"resource": {"resourceType": "Observation", "id": "odd", "status": "final",
                                         "code": {"text": "something else"}}})
    r = api.post("/api/v1/fhir/assess", json=bundle)
    assert r.status_code == 200, r.text
    body = r.json()
    cp = CarePlan.model_validate(body["careplan"])
    assert cp.subject.reference == "Patient/fhir-03" and cp.status == "draft"
    assert any(u.startswith("Observation/odd:") for u in body["unmapped"])
    assert body["patient"]["biomarkers"]["kras_variant"] == "G12C"
    same = mcrc.assess(read_bundle(_load("03-right-colon-kras-g12c-after-two-lines")).patient)
    assert (same.goal.label if same.goal else "Goal: not determined") in cp.description
    # the whole answer as a Bundle: the same plan's patient, the warnings as DetectedIssues, all valid FHIR
    answer = Bundle.model_validate(body["bundle"])
    kinds = [e.resource.__resource_type__ for e in answer.entry]
    assert kinds[0] == "CarePlan" and kinds.count("DetectedIssue") == len(shown(same).warnings)


@pytest.mark.parametrize("content, status, kind", [
    (b"{not json", 400, "malformed-json"),
    (b'{"resourceType": "Patient"}', 400, "not-a-bundle"),
    (b"[1, 2]", 400, "not-a-bundle"),
])
def test_fhir_assess_rejects_what_is_not_a_bundle(api, content, status, kind):
    r = api.post("/api/v1/fhir/assess", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith(kind)


def test_fhir_assess_invalid_bundle_is_422_with_json_pointers(api):
    bundle = _load("01-sync-rectal-lung-mets")
    i = next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["id"] == "fhir-01-ecog")
    bundle["entry"][i]["resource"]["valueInteger"] = "zero"
    bundle["entry"].append({"resource": {"resourceType": "Banana"}})
    r = api.post("/api/v1/fhir/assess", json=bundle)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    pointers = [e.get("pointer") for e in r.json()["errors"]]
    assert f"/entry/{len(bundle['entry']) - 1}/resource/resourceType" in pointers
    bundle["entry"].pop()
    r = api.post("/api/v1/fhir/assess", json=bundle)
    assert r.status_code == 422
    assert any(p and p.startswith(f"/entry/{i}/resource/valueInteger") for p in
               (e.get("pointer") for e in r.json()["errors"]))
    assert "Traceback" not in r.text


def test_fhir_assess_needs_a_token_unless_opened(tmp_path):
    from fastapi.testclient import TestClient

    from mcrc.api.app import Settings, create_app
    from mcrc.store import Store

    url = f"sqlite:///{tmp_path / 'closed.db'}"
    Store(url).upgrade()
    with TestClient(create_app(Settings(database_url=url))) as c:
        r = c.post("/api/v1/fhir/assess", json=_load("02-left-colon-ras-wt-liver"))
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        spec = c.get("/openapi.json").json()["paths"]["/api/v1/fhir/assess"]["post"]
        assert {"200", "400", "401", "422", "500"} <= set(spec["responses"])
        assert spec["requestBody"]["content"]["application/json"]["schema"]["properties"]["resourceType"]


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False)
                     | st.text(max_size=12), lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mutation_of_a_bundle_is_read_or_refused_cleanly(data):
    """Replace one value anywhere in an example Bundle by arbitrary JSON: a ReadResult or an InputError."""
    bundle = _load(data.draw(st.sampled_from(sorted(p.stem for p in FHIR_DIR.glob("*.json")))))
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                paths.append((node, k))
                walk(v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                paths.append((node, i))
                walk(v)

    walk(bundle)
    parent, key = data.draw(st.sampled_from(paths))
    parent[key] = data.draw(_JSON)
    try:
        result = read_bundle(bundle, today=TODAY)
    except mcrc.InputError as e:
        assert e.problems and all(p.where and p.message for p in e.problems)
    else:
        mcrc.assess(result.patient, today=TODAY)


def test_ecog_answer_code_in_interpretation_is_read():
    bundle = _load("02-left-colon-ras-wt-liver")
    ecog = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == "fhir-02-ecog")
    ecog.pop("valueInteger", None)
    ecog.pop("valueCodeableConcept", None)
    ecog["interpretation"] = [{"coding": [{"system": LOINC_SYS, "code": "LA9624-3"}]}]
    assert read_bundle(bundle, today=TODAY).patient.ecog == 2


def test_content_digest_is_canonical_and_takes_any_json_value():
    """The digest that keys kept CDS answers: the same for the same content in any key order or spacing,
    different for any changed value, and defined for values one JSON reader gives and orjson cannot write
    (an integer beyond 64 bits)."""
    from mcrc.fhir.read import content_digest

    bundle = json.loads((FHIR_DIR / "02-left-colon-ras-wt-liver.json").read_text(encoding="utf-8"))
    reordered = json.loads(json.dumps(bundle, sort_keys=True, indent=3))
    assert content_digest(reordered) == content_digest(bundle)
    changed = json.loads(json.dumps(bundle))
    changed["entry"][0]["resource"]["id"] += "x"
    assert content_digest(changed) != content_digest(bundle)
    big = {"resourceType": "Bundle", "total": 2**70}
    assert content_digest(big) != content_digest({"resourceType": "Bundle", "total": 2**70 + 1})


# ---- sides of lung and liver metastases; a site's complete response (decision record 0036) -----------------------
SCT = "http://snomed.info/sct"


def _secondary(rid: str, code: str, **extra: Any) -> dict:
    return {"fullUrl": f"urn:uuid:{rid}", "resource": {
        "resourceType": "Condition", "id": rid,
        "meta": {"profile": ["http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-secondary-cancer-condition"]},
        "code": {"coding": [{"system": SCT, "code": "128462008"}]},
        "bodySite": [{"coding": [{"system": SCT, "code": code}], **extra}],
        "subject": {"reference": "Patient/fhir-02"}, "onsetDateTime": "2026-10-09"}}


def _status(rid: str, focus: str, value: str, when: str = "2026-11-20", loinc: str = "97509-4") -> dict:
    return {"resource": {"resourceType": "Observation", "id": rid, "status": "final",
                         "code": {"coding": [{"system": LOINC_SYS, "code": loinc}]},
                         "subject": {"reference": "Patient/fhir-02"}, "focus": [{"reference": focus}],
                         "effectiveDateTime": when,
                         "valueCodeableConcept": {"coding": [{"system": SCT, "code": value}]}}}


def _liver_bundle(*entries: dict) -> dict:
    bundle = _load("02-left-colon-ras-wt-liver")
    # without the liver Condition, the MDT's records of that site, and the history lists (a complete response
    # needs treatment; these tests read the site's disease status and sides)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["id"] != "fhir-02-met-liver-1"
                       and e["resource"]["resourceType"] != "List"
                       and {"reference": "Condition/fhir-02-met-liver-1"} not in e["resource"].get("focus", [])
                       ] + list(entries)
    return bundle


def _site(p, organ: str):
    return next(m for m in p.metastases if m.organ == organ)


def test_liver_lobes_make_bilobar_disease_and_one_lobe_says_nothing():
    both = read_bundle(_liver_bundle(_secondary("l1", "48521005"), _secondary("l2", "69842003")), today=TODAY)
    assert both.unmapped == [] and _site(both.patient, "liver").bilobar is True
    assert mcrc.assess(both.patient, today=TODAY).facts["liver_bilobar"] is True
    one = read_bundle(_liver_bundle(_secondary("l1", "48521005"), _secondary("l2", "10200004")), today=TODAY)
    assert _site(one.patient, "liver").bilobar is None  # other lesions may lie in the left lobe: unknown


def test_lung_laterality_from_body_structure_or_mcode_qualifier():
    ext = {"extension": [{"url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier",
                          "valueCodeableConcept": {"coding": [{"system": SCT, "code": "7771000"}]}}]}
    p = read_bundle(_liver_bundle(_secondary("l1", "10200004"), _secondary("r", "3341006"),
                                  _secondary("q", "39607008", **ext)), today=TODAY).patient
    assert _site(p, "lung").bilateral is True
    p = read_bundle(_liver_bundle(_secondary("l1", "10200004"), _secondary("r", "3341006"),
                                  _secondary("s", "44029006")), today=TODAY).patient
    assert _site(p, "lung").bilateral is True
    p = read_bundle(_liver_bundle(_secondary("l1", "10200004"), _secondary("r", "3341006")), today=TODAY).patient
    assert _site(p, "lung").bilateral is None


@pytest.mark.parametrize(("value", "loinc", "expected"), [
    pytest.param("260415000", "97509-4", True, id="not-detected"),
    pytest.param("281900007", "88040-1", True, id="no-abnormality-older-code"),
    pytest.param("359746009", "97509-4", False, id="stable"),
    pytest.param("271299001", "97509-4", False, id="worsened"),
])
def test_disease_status_of_a_site_is_its_complete_response(value, loinc, expected):
    bundle = _liver_bundle(_secondary("l1", "10200004"), _status("st", "urn:uuid:l1", value, loinc=loinc))
    result = read_bundle(bundle, today=TODAY)
    assert result.unmapped == []
    assert _site(result.patient, "liver").complete_response is expected
    facts = mcrc.assess(result.patient, today=TODAY).facts
    assert facts["liver_complete_response"] is expected and facts["all_sites_complete_response"] is expected


def test_latest_disease_status_wins_and_unclear_ones_are_reported():
    bundle = _liver_bundle(_secondary("l1", "10200004"),
                           _status("old", "Condition/l1", "260415000", when="2026-10-20"),
                           _status("new", "Condition/l1", "271299001", when="2026-11-20"),
                           _status("improved", "Condition/l1", "268910001"),
                           _status("nofocus", "Condition/nowhere", "260415000"))
    result = read_bundle(bundle, today=TODAY)
    assert _site(result.patient, "liver").complete_response is False
    assert any(u.startswith("Observation/improved:") and "does not say" in u for u in result.unmapped)
    assert any(u.startswith("Observation/nofocus:") and "not one metastatic site" in u for u in result.unmapped)
