"""Turn a counterexample (a fact assignment from the solver) into a Patient JSON a clinician can run.

Observed facts map back to their Patient field; derived facts are realised by choosing inputs that
derive them (a sigmoid or ascending colon for a side, 6 or 12 cm for a rectal height, a course of
FOLFOX that ended in progression for oxaliplatin failure...). The result is re-derived and the facts
that could not be reproduced are reported, so a counterexample never pretends to be exact.
"""

from __future__ import annotations

from typing import Any

from mcrc.facts import derive_facts
from mcrc.patient import parse_patient

_EXTRA_ORGANS = ["bone", "adrenal", "distant_lymph_nodes", "ovary", "brain", "other"]


def _put(d: dict, key: str, value: Any) -> None:
    if value is not None:
        d[key] = value


def _primary(v: dict) -> dict | None:
    p: dict = {}
    loc = v.get("primary_location")
    if loc is None:
        if v.get("primary_site") == "rectum":
            loc = "rectum"
        elif v.get("sidedness") == "right":
            loc = "ascending_colon"
        elif v.get("primary_site") == "colon" or v.get("sidedness") == "left":
            loc = "sigmoid_colon"
    _put(p, "location", loc)
    dist = v.get("rectal_distance_cm")
    if dist is None and v.get("rectal_height"):
        dist = 6 if v["rectal_height"] == "middle_lower" else 12
    if loc == "rectum":
        _put(p, "distance_from_anal_verge_cm", dist)
    ct, cn = v.get("ct"), v.get("cn")
    if v.get("locally_advanced") is True and ct is None and cn is None:
        ct = "T3"
    if v.get("locally_advanced") is False:
        ct, cn = ct or "T2", cn or "N0"
    _put(p, "ct", ct)
    _put(p, "cn", cn)
    _put(p, "status", v.get("primary_status"))
    if v.get("primary_status") == "resected":
        p["resected_on"] = "2024-01-15"
    _put(p, "resectability", v.get("primary_resectability"))
    _put(p, "emergency", v.get("emergency"))
    return p or None


def _size(mm: Any) -> dict | None:
    return None if mm is None else {"value": max(float(mm), 1.0), "unit": "mm"}


def _metastases(v: dict) -> list | None:
    if v.get("metastases_recorded") is None and v.get("metastatic") is None:
        return None
    if v.get("metastatic") is False:
        return []
    timing = v.get("lung_timing")
    found = "2025-06-01" if timing == "metachronous" else "2024-01-10"
    mets: list[dict] = []
    if v.get("lung_mets"):
        lung: dict = {"organ": "lung", "found": found}
        for key, fact in (("count", "lung_met_count"), ("bilateral", "lung_bilateral"), ("zone", "lung_zone"),
                          ("hilar_mediastinal_nodes", "lung_nodes"), ("lymphangitic", "lymphangitic"),
                          ("symptomatic", "lung_symptomatic"), ("resectability", "lung_resectability"),
                          ("timing", "lung_timing"), ("nature_indeterminate", "lung_indeterminate")):
            _put(lung, key, v.get(fact))
        _put(lung, "largest_size", _size(v.get("lung_largest_mm")))
        if v.get("lung_zone") and "count" not in lung:
            lung["count"] = 1
        mets.append(lung)
    sites = v.get("extrapulmonary_sites") or 0
    extra_res = v.get("extrapulmonary_resectability")
    if extra_res == "none":
        extra_res = None
    if v.get("liver_mets"):
        before = v.get("prior_liver_resection") and v.get("liver_recurrence_after_resection") is False
        liver: dict = {"organ": "liver", "found": "2023-01-10" if before else "2024-01-10"}
        _put(liver, "count", v.get("liver_met_count") or None)
        _put(liver, "largest_size", _size(v.get("liver_largest_mm")))
        res = v.get("liver_resectability")
        _put(liver, "resectability", None if res == "none" else res or extra_res)
        for key, fact in (("multifocal_stage", "liver_multifocal_stage"), ("major_resection_needed",
                          "liver_major_resection"), ("small_and_accessible", "liver_small_accessible")):
            _put(liver, key, v.get(fact))
        mets.append(liver)
    if v.get("peritoneal_mets"):
        peri: dict = {"organ": "peritoneum", "found": "2024-01-10"}
        _put(peri, "pci", v.get("pci"))
        _put(peri, "p_category", v.get("p_category"))
        res = v.get("peritoneal_resectability")
        _put(peri, "resectability", None if res == "none" else res or extra_res)
        mets.append(peri)
    if v.get("pelvic_implant"):
        mets.append({"organ": "pelvic_implant", "found": "2024-01-10", "resectability": extra_res})
    organs = [m for m in mets if m["organ"] != "lung"]
    for organ in _EXTRA_ORGANS[: max(0, sites - len(organs))]:
        mets.append({"organ": organ, "found": "2024-01-10", "resectability": extra_res})
    return [{k: x for k, x in m.items() if x is not None} for m in mets]


def _biomarkers(v: dict) -> dict | None:
    b: dict = {}
    kras, nras = v.get("kras"), v.get("nras")
    if v.get("ras") == "wild_type":
        kras, nras = kras or "wild_type", nras or "wild_type"
    if v.get("ras") == "mutant" and kras != "mutant" and nras != "mutant":
        kras = "mutant"
    if v.get("kras_g12c") is True:
        kras = "mutant"
    _put(b, "kras", kras)
    if kras == "mutant" and v.get("kras_g12c") is not None:
        b["kras_variant"] = "G12C" if v["kras_g12c"] else "G12D"
    _put(b, "nras", nras)
    _put(b, "braf", v.get("braf"))
    if v.get("mmr_status"):
        b["mmr"] = "deficient" if v["mmr_status"] == "dmmr_msi_h" else "proficient"
    _put(b, "her2", v.get("her2"))
    if v.get("her2_ihc_3plus") is not None:
        b["her2_ihc_score"] = "3+" if v["her2_ihc_3plus"] else "1+"
        if v["her2_ihc_3plus"] and b.get("her2") is None:
            b["her2"] = "positive"
    _put(b, "ntrk_fusion", v.get("ntrk_fusion"))
    _put(b, "ret_fusion", v.get("ret_fusion"))
    if v.get("ctdna_clear") is not None:
        state = "wild_type" if v["ctdna_clear"] else "mutant"
        b["ctdna"] = {"ras": state, "braf": "wild_type", "egfr_ectodomain": "wild_type"}
    _put(b, "specimen", v.get("molecular_specimen"))
    return b or None


def _history(v: dict) -> dict | None:
    h: dict = {}
    if v.get("systemic_history_known"):
        courses = []
        if v.get("adjuvant_oxaliplatin_failure_12m"):
            courses.append({"setting": "adjuvant", "regimen": "CAPOX", "started": "2024-02-01", "ended": "2024-07-01",
                            "outcome": "completed", "progression_date": "2024-12-01"})
        elif (v.get("oxaliplatin_exposed") and not v.get("oxaliplatin_failed")
              and not v.get("lines_received")):
            courses.append({"setting": "adjuvant", "regimen": "CAPOX", "started": "2024-02-01", "ended": "2024-07-01",
                            "outcome": "completed", "progression_date": "2026-01-01"})
        if v.get("neoadjuvant_given"):
            regimen = "FOLFIRI" if v.get("preop_irinotecan_effective") else "FOLFOX"
            outcome = "progression" if v.get("neoadjuvant_progression") else "response"
            courses.append({"setting": "neoadjuvant", "regimen": regimen, "started": "2025-01-10",
                            "ended": "2025-04-10", "outcome": outcome})
        lines = v.get("lines_received") or 0
        failed = v.get("lines_failed") or 0
        plan = []
        if v.get("oxaliplatin_failed") and not v.get("adjuvant_oxaliplatin_failure_12m"):
            plan.append("FOLFOX_PANITUMUMAB" if v.get("anti_egfr_exposed") else "FOLFOX_BEV"
                        if v.get("anti_vegf_exposed") else "FOLFOX")
        if v.get("irinotecan_failed"):
            plan.append("FOLFIRI")
        while len(plan) < lines:
            plan.append("CAPECITABINE")
        for i, regimen in enumerate(plan[: max(lines, len(plan))], start=1):
            courses.append({"setting": "palliative", "line": i, "regimen": regimen, "started": f"2025-{i:02d}-05",
                            "outcome": "progression" if i <= max(failed, 1) else "stable"})
        if v.get("checkpoint_inhibitor_exposed"):
            courses.append({"setting": "palliative", "regimen": "PEMBROLIZUMAB", "started": "2026-01-05",
                            "outcome": "stable"})
        h["courses"] = courses
    procs = []
    if v.get("lung_lobectomy_done") is not None or v.get("prior_liver_resection") is not None:
        if v.get("lung_lobectomy_done") or v.get("lung_resection_margin") in ("R0", "R1", "R2"):
            kind = "lung_lobectomy" if v.get("lung_lobectomy_done") else "lung_sublobar_resection"
            procs.append({"kind": kind, "date": "2024-06-01", "margin": v.get("lung_resection_margin") or "R0"})
        if v.get("prior_liver_resection"):
            procs.append({"kind": "liver_resection", "date": "2023-06-01",
                          "margin": v.get("liver_resection_margin") or "R0"})
        if v.get("prior_pelvic_radiotherapy"):
            procs.append({"kind": "pelvic_radiotherapy", "date": "2023-03-01"})
        h["procedures"] = procs
    return h or None


def realise(values: dict[str, Any]) -> dict:
    """A Patient dict whose derived facts match `values` as closely as the input model allows."""
    v = values
    p: dict = {"id": "counterexample"}
    for key in ("age", "sex", "ecog", "cea_ng_ml", "tumour_burden", "region"):
        _put(p, key, v.get(key))
    _put(p, "primary", _primary(v))
    _put(p, "metastases", _metastases(v))
    _put(p, "biomarkers", _biomarkers(v))
    _put(p, "treatment_history", _history(v))
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
    patient = realise(values)
    try:
        derived = derive_facts(parse_patient(patient)).values
    except Exception as exc:  # the realiser must never crash the verifier
        return None, [f"could not build a valid patient: {exc}"]
    mismatched = sorted(f for f in relevant if derived.get(f) != values.get(f))
    return patient, mismatched
