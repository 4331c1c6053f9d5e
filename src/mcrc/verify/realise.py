"""Turn a counterexample (a fact assignment from the solver) into a Patient JSON a clinician can run.

Observed facts map back to their Patient field; derived facts are realised by choosing inputs that
derive them (a sigmoid or ascending colon for a side, 6 or 12 cm for a rectal height, a course of
FOLFOX that ended in progression for oxaliplatin failure...). The result is re-derived and the facts
that could not be reproduced are reported, so a counterexample never pretends to be exact.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcrc.facts import derive_facts
from mcrc.patient import parse_patient
from mcrc.verify.realise_disease import _biomarkers, _metastases, _primary, _put
from mcrc.verify.realise_history import _ctdna_date, _history


def realise(values: dict[str, Any], relevant: set[str] = frozenset()) -> dict:
    """A Patient dict whose derived facts match `values` as closely as the input model allows (a fact in
    `relevant` that `values` leaves unknown is left unknown where the record can say so)."""
    v = values
    p: dict = {"id": "counterexample"}
    for key in ("age", "sex", "ecog", "cea_ng_ml", "tumour_burden", "region"):
        _put(p, key, v.get(key))
    _put(p, "primary", _primary(v))
    _put(p, "metastases", _metastases(v, set(relevant)))
    _put(p, "biomarkers", _biomarkers(v))
    _put(p, "treatment_history", _history(v, dt.date.today(), set(relevant)))
    _ctdna_date(v, p)
    fitness: dict = {}
    _put(fitness, "fit_for_surgery", v.get("fit_for_surgery"))
    _put(fitness, "fit_for_intensive_therapy", v.get("fit_for_intensive_therapy"))
    _put(fitness, "adequate_organ_function", v.get("organ_function_adequate"))
    _put(p, "fitness", fitness or None)
    prefs: dict = {}
    _put(prefs, "declines_surgery", v.get("declines_surgery"))
    _put(prefs, "wishes_organ_preservation", v.get("wishes_organ_preservation"))
    _put(p, "preferences", prefs or None)
    if v.get("bone_pain") is not None:
        p["symptoms"] = {"bone_pain": v["bone_pain"]}
    if v.get("ned") is True:
        p["ned"] = True
    return p


def reproduce(values: dict[str, Any], relevant: set[str]) -> tuple[dict | None, list[str]]:
    """Realise `values`; return the patient and the relevant facts it does not reproduce."""
    patient = realise(values, relevant)
    try:
        derived = derive_facts(parse_patient(patient)).values
    except Exception as exc:  # the realiser must never crash the verifier
        return None, [f"could not build a valid patient: {exc}"]
    mismatched = sorted(f for f in relevant if derived.get(f) != values.get(f))
    return patient, mismatched
