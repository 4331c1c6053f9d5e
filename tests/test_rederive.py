"""The untreated presumption derives only the history facts again (mcrc.facts.derive.rederive_untreated): the
result must be exactly the whole derivation of the untreated patient, for every example and for random patients
with no course list recorded (lesions with and without dates and timing, biomarkers with ctDNA, radiotherapy and
procedures recorded or not)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mcrc
from mcrc.facts import derive_facts
from mcrc.facts.derive import rederive_untreated
from mcrc.patient import parse_patient
from tests.test_verify import patients

ROOT = Path(__file__).resolve().parents[1]
KB = mcrc.load_knowledge()
TODAY = dt.date(2026, 12, 7)
untreated = importlib.import_module("mcrc.engine.provisional").untreated


def _same_as_whole(patient) -> None:
    facts = derive_facts(patient, KB.definitions, today=TODAY)
    after = untreated(patient)
    whole = derive_facts(after, KB.definitions, today=TODAY)
    again = rederive_untreated(facts, patient, after, KB.definitions, today=TODAY)
    assert again == whole
    assert list(again.values) == list(whole.values)  # the same order too (the answer lists facts in it)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda p: p.stem)
def test_every_example_rederives_as_the_whole_derivation(path):
    patient = parse_patient(json.loads(path.read_text()))
    _same_as_whole(patient)


RADIOTHERAPY = [None, [], [{"site": "pelvis", "started": "2024-03-01"}], [{"site": "pelvis"}]]
PROCEDURES = [None, [], [{"kind": "liver_resection", "date": "2024-05-01", "margin": "R0"}],
              [{"kind": "lung_lobectomy", "date": "2025-02-01", "margin": "R1"}], [{"kind": "liver_resection"}]]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=patients(), history=st.booleans(), radiotherapy=st.sampled_from(RADIOTHERAPY),
       procedures=st.sampled_from(PROCEDURES))
def test_random_patients_without_courses_rederive_as_the_whole_derivation(data, history, radiotherapy, procedures):
    data.pop("treatment_history", None)
    if history:
        data["treatment_history"] = {k: v for k, v in (("radiotherapy", radiotherapy), ("procedures", procedures))
                                     if v is not None}
    try:
        patient = parse_patient(data)
    except mcrc.InputError:
        assume(False)
    assert patient.treatment_history is None or patient.treatment_history.courses is None
    _same_as_whole(patient)


def test_a_patient_with_courses_is_derived_whole():
    """Outside its one use (no course list before, an empty one after) the shortcut derives the patient whole."""
    data = json.loads((ROOT / "examples" / "22-lung-liver-ovary-all-resectable.json").read_text())
    before = parse_patient(data)
    after = parse_patient({**data, "ecog": 3})
    facts = derive_facts(before, KB.definitions, today=TODAY)
    assert facts.values["ecog"] != 3
    assert rederive_untreated(facts, before, after, KB.definitions, today=TODAY) == \
        derive_facts(after, KB.definitions, today=TODAY)
