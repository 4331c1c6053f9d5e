"""Clinical vignettes for cancers-2022-rectal (Table 8: NCCN, ESMO and JSCCR on metastatic rectal cancer).

Every row of `tables/40-cancers-2022-rectal.yaml` has at least one realistic patient here. Patients are built
from `base()` (see tests/patients.py) with a rectal primary (`rectum(cm)`) and the metastases of the
vignette. Route vignettes pin the exact strategy steps; view vignettes pin the items and, in
`EXPECTED_VIEWS`, the guideline's position. Further tests check the side-by-side view (agreement marks),
the Kleene behaviour with unknown PCI / P category, the safety invariants and the scope of the rows.
"""

from __future__ import annotations

import dataclasses

import pytest

import mcrc
from mcrc.engine.safety import check_safety
from mcrc.facts.derive import derive_facts
from mcrc.patient import Patient
from tests.patients import DROP, course, lung, merge, patient, rectum, site
from tests.vignettes import KB, V, check, param


def peri(resectability: str = "resectable", **kw) -> dict:
    """Peritoneal metastases (a group), found at staging with the primary."""
    return site("peritoneum", resectability, **{"largest_size": {"value": 12, "unit": "mm"}, **kw})


def found_on(lesion: dict, date: str) -> dict:
    return merge(lesion, {"found": date})


LOW_PCI = peri(count=4, pci=6)
P1 = peri(count=2, p_category="P1")                      # Japanese work-up: P recorded, PCI not
P2_PCI_14 = peri(count=5, pci=14, p_category="P2")
WIDESPREAD = peri("unresectable", count=DROP, pci=24, p_category="P3", largest_size={"value": 40, "unit": "mm"})
LIVER_OK = site("liver", "resectable", count=3, largest_size={"value": 28, "unit": "mm"})
LIVER_BAD = site("liver", "unresectable", count=9, largest_size={"value": 45, "unit": "mm"})
LIVER_MAYBE = site("liver", "potentially_resectable", count=4, largest_size={"value": 60, "unit": "mm"})
UNRESECTABLE_LUNG = lung(count=14, bilateral=True, largest_size={"value": 22, "unit": "mm"}, zone=DROP,
                         resectability="unresectable")
UNFIT = {"fitness": {"fit_for_surgery": False}}
PROGRESSION = {"treatment_history": {"courses": [
    course("neoadjuvant", "FOLFOX", "2026-09-15", "2026-11-10", "progression", progression_date="2026-11-10")]}}

# Mid-rectal cancer resected in 2024 after chemoradiation, adjuvant CAPOX; peritoneal relapse in 2026.
RESECTED = {
    "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-05-28", "emergency": DROP,
                "resectability": DROP},
    "treatment_history": {
        "courses": [course("adjuvant", "CAPOX", "2024-07-01", "2024-12-16", "completed")],
        "procedures": [{"kind": "pelvic_radiotherapy", "date": "2024-03-20"},
                       {"kind": "primary_resection", "date": "2024-05-28", "margin": "R0"}],
    },
}
# Relapse 8 months after adjuvant CAPOX: oxaliplatin failed early.
EARLY_FAILURE = {
    "primary": {"diagnosed": "2025-02-10", "status": "resected", "resected_on": "2025-03-04", "emergency": DROP,
                "resectability": DROP},
    "treatment_history": {
        "courses": [course("adjuvant", "CAPOX", "2025-04-01", "2025-09-15", "completed")],
        "procedures": [{"kind": "primary_resection", "date": "2025-03-04", "margin": "R0"}],
    },
}

OBSTRUCTION_STEPS = [
    "emergency_resection systemic_therapy reassess_after_systemic",
    "diverting_ostomy systemic_therapy reassess_after_systemic",
    "surgical_bypass systemic_therapy reassess_after_systemic",
]
CRS = "cytoreduction_hipec complete_cytoreduction"
R = "rectal.peritoneal_route."

VIGNETTES: list[V] = [
    # --- peritoneal route: emergencies ----------------------------------------------------------
    V(R + "obstruction_upper", "obstructing-upper-rectum-low-pci",
      patient(rectum(12), primary={"emergency": "obstruction"}, metastases=[LOW_PCI]),
      steps=[*OBSTRUCTION_STEPS, "emergency_stent systemic_therapy reassess_after_systemic"],
      must={"first_steps": "emergency_stent emergency_resection diverting_ostomy surgical_bypass",
            "warnings": "emergency_first"},
      must_not={"strategies": CRS}, not_fired=R + "cytoreduction_low_pci"),
    V(R + "obstruction_upper", "impending-obstruction-upper-rectum",
      patient(rectum(11, "T4", "N2"), primary={"emergency": "impending_obstruction"}, metastases=[P1]),
      steps=[*OBSTRUCTION_STEPS, "emergency_stent systemic_therapy reassess_after_systemic"],
      must={"first_steps": "emergency_stent diverting_ostomy"}, must_not={"strategies": CRS}),
    V(R + "obstruction_middle_lower", "obstructing-low-rectum",
      patient(rectum(4, "T4", "N1"), primary={"emergency": "obstruction"}, metastases=[LOW_PCI]),
      steps=OBSTRUCTION_STEPS,
      must={"first_steps": "emergency_resection diverting_ostomy surgical_bypass", "warnings": "no_stent_low_rectum"},
      must_not={"all": "emergency_stent", "strategies": CRS}, not_fired="rectal.peritoneal.nccn_stent_upper"),
    V(R + "obstruction_middle_lower", "impending-obstruction-mid-rectum",
      patient(rectum(7), primary={"emergency": "impending_obstruction"}, metastases=[P2_PCI_14]),
      steps=OBSTRUCTION_STEPS, must={"first_steps": "surgical_bypass"}, must_not={"all": "emergency_stent"}),

    # --- peritoneal route: cytoreduction --------------------------------------------------------
    V(R + "cytoreduction_low_pci", "peritoneum-only-pci-6",
      patient(rectum(8), metastases=[LOW_PCI]), goal="ned",
      steps=["cytoreduction_hipec", "complete_cytoreduction", "systemic_therapy reassess_after_systemic"],
      must={"considerations": "primary_with_cytoreduction", "workup": "p_category_assessment"},
      must_not={"first_steps": "emergency_stent emergency_resection", "workup": "pci_assessment"},
      not_fired=R + "systemic " + R + "cytoreduction_p_category"),
    V(R + "cytoreduction_low_pci", "metachronous-after-resection-pci-9",
      patient(rectum(6), RESECTED, metastases=[peri(count=3, pci=9, p_category="P2", found="2026-08-12")]),
      goal="ned", steps=["cytoreduction_hipec", "complete_cytoreduction", "systemic_therapy reassess_after_systemic"],
      must={"warnings": "p2_resect_only_if_easy"}, must_not={"considerations": "primary_with_cytoreduction"},
      not_fired="rectal.peritoneal.primary_in_place " + R + "cytoreduction_p_category"),
    V(R + "cytoreduction_p_category", "p1-japan-pci-not-recorded",
      patient(rectum(9), region="japan", metastases=[P1]), goal="ned",
      steps=["complete_cytoreduction", "systemic_therapy reassess_after_systemic"],
      must={"workup": "pci_assessment"}, must_not={"strategies": "cytoreduction_hipec"},
      possible=R + "cytoreduction_low_pci", not_fired=R + "cytoreduction_low_pci"),
    V(R + "cytoreduction_p_category", "p2-pci-14",
      patient(rectum(10), metastases=[P2_PCI_14]),
      steps=["complete_cytoreduction", "systemic_therapy reassess_after_systemic"],
      must={"warnings": "p2_resect_only_if_easy"}, must_not={"strategies": "cytoreduction_hipec"}),
    V(R + "progression_before_cytoreduction", "progression-on-preoperative-folfox",
      patient(rectum(8), PROGRESSION, metastases=[LOW_PCI]),
      steps=["mdt_discussion systemic_therapy reassess_after_systemic"], must={"warnings": "neoadjuvant_progression"},
      must_not={"strategies": CRS}, no_class="local_peritoneal surgery_primary",
      not_fired=R + "cytoreduction_low_pci"),

    # --- peritoneal route: systemic therapy and referral ----------------------------------------
    V(R + "systemic", "widespread-p3-pci-24",
      patient(rectum(6), metastases=[WIDESPREAD]), steps=["systemic_therapy reassess_after_systemic"],
      must_not={"strategies": CRS}, no_class="local_peritoneal",
      not_fired="rectal.peritoneal.jsccr_p1 rectal.peritoneal.jsccr_p2 rectal.peritoneal.primary_in_place"),
    V(R + "systemic", "low-pci-with-bone-metastasis",
      patient(rectum(8), metastases=[LOW_PCI, site("bone", "unresectable")]),
      steps=["systemic_therapy reassess_after_systemic"], must_not={"strategies": CRS}),
    V(R + "systemic", "low-pci-unfit-for-surgery",
      patient(rectum(8), UNFIT, age=84, ecog=2, metastases=[LOW_PCI]),
      steps=["systemic_therapy reassess_after_systemic"], must_not={"strategies": CRS}),
    V(R + "systemic", "primary-fixed-to-sacrum",
      patient(rectum(5, "T4", "N2"), primary={"resectability": "unresectable"}, metastases=[LOW_PCI]),
      steps=["systemic_therapy reassess_after_systemic"], must_not={"strategies": CRS}),
    V(R + "undetermined", "pci-and-p-category-not-recorded",
      patient(rectum(8), metastases=[peri(count=3)]), scope="refer_mdt",
      must={"referrals": "refer_mdt", "workup": "pci_assessment p_category_assessment"},
      must_not={"strategies": CRS + " systemic_therapy"},
      possible=R + "cytoreduction_low_pci " + R + "cytoreduction_p_category " + R + "systemic"),
    V(R + "undetermined", "bleeding-primary", patient(rectum(6), primary={"emergency": "bleeding"},
                                                      metastases=[LOW_PCI]),
      scope="refer_mdt", must={"referrals": "refer_mdt", "first_steps": "emergency_resection"},
      must_not={"all": "emergency_stent " + CRS}),
    V(R + "undetermined", "obstruction-height-not-recorded",
      patient(rectum(8), primary={"emergency": "obstruction", "distance_from_anal_verge_cm": DROP},
              metastases=[LOW_PCI]),
      scope="refer_mdt", must={"first_steps": "emergency_resection diverting_ostomy surgical_bypass"},
      must_not={"all": "emergency_stent"}, possible="rectal.peritoneal.nccn_stent_upper " + R + "obstruction_upper",
      not_fired="rectal.peritoneal.nccn_stent_upper"),

    # --- peritoneal views -------------------------------------------------------------------------
    V("rectal.peritoneal.nccn_systemic", "widespread-p3-pci-24", patient(rectum(6), metastases=[WIDESPREAD]),
      must={"strategies": "systemic_therapy"}),
    V("rectal.peritoneal.nccn_obstruction", "obstructing-low-rectum",
      patient(rectum(4, "T4", "N1"), primary={"emergency": "obstruction"}, metastases=[LOW_PCI]),
      must={"first_steps": "emergency_resection diverting_ostomy surgical_bypass"},
      must_not={"first_steps": "emergency_stent"}),
    V("rectal.peritoneal.nccn_obstruction", "peritoneum-and-liver-impending-obstruction",
      patient(rectum(5), primary={"emergency": "impending_obstruction"}, metastases=[LOW_PCI, LIVER_OK]),
      scope="in_scope_or_mdt", must={"first_steps": "diverting_ostomy surgical_bypass"},
      must_not={"all": "emergency_stent"}, not_fired=R + "obstruction_middle_lower"),
    V("rectal.peritoneal.nccn_stent_upper", "impending-obstruction-upper-rectum",
      patient(rectum(13), primary={"emergency": "impending_obstruction"}, metastases=[LOW_PCI]),
      must={"first_steps": "emergency_stent"}, not_fired="lung.emergency.stent_allowed"),
    V("rectal.peritoneal.esmo_cytoreduction", "peritoneum-only-pci-6", patient(rectum(8), metastases=[LOW_PCI]),
      must={"strategies": "cytoreduction_hipec"}),
    V("rectal.peritoneal.jsccr_p1", "p1-japan-pci-not-recorded",
      patient(rectum(9), region="japan", metastases=[P1]), must={"strategies": "complete_cytoreduction"},
      not_fired="rectal.peritoneal.jsccr_p2"),
    V("rectal.peritoneal.jsccr_p2", "p2-pci-14", patient(rectum(10), metastases=[P2_PCI_14]),
      must={"warnings": "p2_resect_only_if_easy"}, not_fired="rectal.peritoneal.jsccr_p1"),
    V("rectal.peritoneal.primary_in_place", "peritoneum-only-pci-6", patient(rectum(8), metastases=[LOW_PCI]),
      must={"considerations": "primary_with_cytoreduction"}),
    V("rectal.peritoneal.pci_unknown", "p1-japan-pci-not-recorded",
      patient(rectum(9), region="japan", metastases=[P1]), must={"workup": "pci_assessment"},
      must_not={"workup": "p_category_assessment"}),
    V("rectal.peritoneal.p_category_unknown", "peritoneum-only-pci-6", patient(rectum(8), metastases=[LOW_PCI]),
      must={"workup": "p_category_assessment"}, must_not={"workup": "pci_assessment"}),

    # --- liver views (the liver source frames goal and route) ----------------------------------
    V("rectal.liver.nccn_resectable", "mid-rectum-three-liver-mets",
      patient(rectum(7), metastases=[LIVER_OK]), scope="in_scope_or_mdt",
      must_not={"considerations": "nccn_conversion_options"}, not_fired="rectal.liver.nccn_unresectable"),
    V("rectal.liver.nccn_staged_or_synchronous", "mid-rectum-three-liver-mets",
      patient(rectum(7), metastases=[LIVER_OK]), scope="in_scope_or_mdt"),
    V("rectal.liver.nccn_unresectable", "bilobar-nine-liver-mets",
      patient(rectum(6), metastases=[LIVER_BAD]), scope="in_scope_or_mdt",
      must={"considerations": "nccn_conversion_options"},
      not_fired="rectal.liver.nccn_resectable rectal.liver.esmo_resectable_regimens rectal.omd.esmo_systemic_first"),
    V("rectal.liver.esmo_resectable", "mid-rectum-three-liver-mets",
      patient(rectum(7), metastases=[LIVER_OK]), scope="in_scope_or_mdt"),
    V("rectal.liver.esmo_resectable_regimens", "mid-rectum-three-liver-mets",
      patient(rectum(7), metastases=[LIVER_OK]), scope="in_scope_or_mdt", must={"regimens": "FOLFOX CAPOX"}),
    V("rectal.liver.esmo_resectable", "relapse-8-months-after-capox",
      patient(rectum(9), EARLY_FAILURE, metastases=[found_on(LIVER_OK, "2026-05-18")]), scope="in_scope_or_mdt",
      must_not={"regimens": "FOLFOX CAPOX"}, not_fired="rectal.liver.esmo_resectable_regimens"),
    V("rectal.liver.esmo_unresectable", "large-liver-mets-potentially-resectable",
      patient(rectum(8), metastases=[LIVER_MAYBE]), scope="in_scope_or_mdt",
      must={"considerations": "nccn_conversion_options"}, must_not={"local_treatment": "liver_ablation"}),
    V("rectal.liver.jsccr_resect", "mid-rectum-three-liver-mets",
      patient(rectum(7), metastases=[LIVER_OK]), scope="in_scope_or_mdt"),
    V("rectal.liver.jsccr_timing", "mid-rectum-three-liver-mets",
      patient(rectum(7), metastases=[LIVER_OK]), scope="in_scope_or_mdt"),
    V("rectal.liver.jsccr_resect", "metachronous-liver-after-rectal-resection",
      patient(rectum(6), RESECTED, metastases=[found_on(LIVER_OK, "2026-06-30")]), scope="in_scope_or_mdt",
      not_fired="rectal.liver.jsccr_timing rectal.liver.nccn_staged_or_synchronous"),

    # --- lung views (the lung consensus frames goal and route) -------------------------------
    V("rectal.lung.nccn_resectable", "mid-rectum-two-lung-mets", patient(rectum(6), metastases=[lung()]),
      must={"strategies": "rectal_neoadjuvant_radiotherapy"}, not_fired="rectal.lung.nccn_unresectable"),
    V("rectal.lung.nccn_unresectable", "many-bilateral-lung-mets", patient(rectum(6), metastases=[UNRESECTABLE_LUNG]),
      must={"considerations": "nccn_conversion_options"},
      not_fired="rectal.lung.nccn_resectable rectal.lung.jsccr_after_primary rectal.omd.esmo_systemic_first"),
    V("rectal.lung.esmo_ablation", "copd-single-lung-met-after-rectal-resection",
      patient(rectum(6), RESECTED, UNFIT, metastases=[lung(count=1, found="2026-07-08")]),
      must={"strategies": "lung_sbrt_or_ablation", "local_treatment": "lung_rfa"},
      must_not={"strategies": "resect_lung_metastases"}),
    V("rectal.lung.jsccr_after_primary", "mid-rectum-two-lung-mets", patient(rectum(6), metastases=[lung()])),
    V("lung.route.lymphangitic", "rectal-lymphangitic-no-resection-view",
      patient(rectum(6), metastases=[lung(count=30, bilateral=True, lymphangitic=True, zone=DROP,
                                          resectability="resectable")]),
      no_class="local_lung", not_fired="rectal.lung.nccn_resectable rectal.lung.jsccr_after_primary"),

    # --- oligometastatic disease ----------------------------------------------------------------
    V("rectal.omd.esmo_systemic_first", "mid-rectum-two-lung-mets", patient(rectum(6), metastases=[lung()]),
      must={"considerations": "esmo_omd_plan"}),
    V("rectal.omd.esmo_systemic_first", "one-lung-one-liver-met",
      patient(rectum(7), metastases=[lung(count=1), site("liver", "resectable")]),
      must={"considerations": "esmo_omd_plan"}),
    V("lung.route.table5_both_curable", "rectal-three-organs-not-oligometastatic",
      patient(rectum(12), sex="female", metastases=[lung(), site("liver", "resectable"), site("ovary", "resectable")]),
      must_not={"considerations": "esmo_omd_plan"}, not_fired="rectal.omd.esmo_systemic_first"),
]

# What each view row says, checked on its first vignette: (topic, voice, stance).
EXPECTED_VIEWS = {
    "rectal.peritoneal.nccn_systemic": ("peritoneal", "NCCN", "systemic_relieve_obstruction"),
    "rectal.peritoneal.esmo_cytoreduction": ("peritoneal", "ESMO", "crs_if_low_volume"),
    "rectal.peritoneal.jsccr_p1": ("peritoneal", "JSCCR", "resection_by_p_category"),
    "rectal.peritoneal.jsccr_p2": ("peritoneal", "JSCCR", "resection_by_p_category"),
    "rectal.liver.nccn_resectable": ("resectable_liver", "NCCN", "neoadjuvant_then_resection"),
    "rectal.liver.nccn_staged_or_synchronous": ("primary_liver_timing", "NCCN", "simultaneous_or_staged"),
    "rectal.liver.nccn_unresectable": ("unresectable_liver", "NCCN", "conversion_systemic"),
    "rectal.liver.esmo_resectable": ("resectable_liver", "ESMO", "upfront_or_perioperative"),
    "rectal.liver.esmo_unresectable": ("unresectable_liver", "ESMO", "conversion_or_ablation"),
    "rectal.liver.jsccr_resect": ("resectable_liver", "JSCCR", "resect_once_primary_radical"),
    "rectal.liver.jsccr_timing": ("primary_liver_timing", "JSCCR", "simultaneous_or_staged"),
    "rectal.lung.nccn_resectable": ("lung_resection_timing", "NCCN", "simultaneous_or_staged"),
    "rectal.lung.nccn_unresectable": ("lung_nonsurgical", "NCCN", "conversion_systemic"),
    "rectal.lung.esmo_ablation": ("lung_nonsurgical", "ESMO", "ablation_when_surgery_unsuitable"),
    "rectal.lung.jsccr_after_primary": ("lung_resection_timing", "JSCCR", "resect_after_primary"),
    "rectal.omd.esmo_systemic_first": ("oligometastatic_systemic", "ESMO", "systemic_first"),
}
# Scope of patients framed by another source (the liver route): theirs to decide, never out of scope.
LENIENT_SCOPE = "in_scope_or_mdt"


def _check(v: V) -> mcrc.Assessment:
    a = mcrc.assess(v.patient)
    if v.scope == LENIENT_SCOPE:
        assert a.scope.status in ("in_scope", "refer_mdt")
        v = dataclasses.replace(v, scope=a.scope.status)
    check(v)
    return a


def _views(a: mcrc.Assessment) -> dict[str, dict[str, str]]:
    return {t.topic: {v.voice: v.stance for v in t.views} for t in a.positions}


def _agreement(a: mcrc.Assessment, topic: str) -> str:
    (t,) = [t for t in a.positions if t.topic == topic]
    return t.agreement


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vignette", [param(v) for v in VIGNETTES])
def test_vignette(vignette: V) -> None:
    a = _check(vignette)
    if vignette.row in EXPECTED_VIEWS:
        topic, voice, stance = EXPECTED_VIEWS[vignette.row]
        assert _views(a).get(topic, {}).get(voice) == stance




# ------------------------------------------------------------------------------------------------
# Side by side: each guideline's view, and agreement marked by stance codes
# ------------------------------------------------------------------------------------------------

def _marked_correctly(a: mcrc.Assessment) -> None:
    for t in a.positions:
        stances = {v.stance for v in t.views}
        voices = [v.voice for v in t.views]
        assert len(voices) == len(set(voices)), f"{t.topic}: a voice appears twice"
        expected = "single" if len(voices) < 2 else ("agree" if len(stances) == 1 else "differ")
        assert t.agreement == expected, t.topic


def test_side_by_side_rectal_resectable_liver() -> None:
    a = mcrc.assess(patient(rectum(7), metastases=[LIVER_OK]))
    views = _views(a)
    assert {k: views["resectable_liver"][k] for k in ("NCCN", "ESMO", "JSCCR")} == {
        "NCCN": "neoadjuvant_then_resection", "ESMO": "upfront_or_perioperative",
        "JSCCR": "resect_once_primary_radical"}
    assert _agreement(a, "resectable_liver") == "differ"
    assert views["primary_liver_timing"]["NCCN"] == views["primary_liver_timing"]["JSCCR"] == "simultaneous_or_staged"
    assert views["oligometastatic_systemic"]["ESMO"] == "systemic_first"
    assert "unresectable_liver" not in views
    _marked_correctly(a)
    # each view cites its own column of Table 8
    (t,) = [t for t in a.positions if t.topic == "resectable_liver"]
    for v in t.views:
        if v.voice in ("NCCN", "ESMO", "JSCCR"):
            assert v.citations[0].where == f"Table 8, liver row, {v.voice} column"


def test_side_by_side_rectal_unresectable_liver() -> None:
    a = mcrc.assess(patient(rectum(6), metastases=[LIVER_BAD]))
    views = _views(a)["unresectable_liver"]
    assert (views["NCCN"], views["ESMO"]) == ("conversion_systemic", "conversion_or_ablation")
    assert _agreement(a, "unresectable_liver") == "differ"
    _marked_correctly(a)


def test_side_by_side_rectal_lung_metastases() -> None:
    a = mcrc.assess(patient(rectum(6), metastases=[lung()]))
    views = _views(a)["lung_resection_timing"]
    # NCCN and the lung consensus (Table 2, locally advanced middle/low rectum) say the same; JSCCR differs
    assert views.items() >= {("Chinese lung consensus", "simultaneous_or_staged"), ("NCCN", "simultaneous_or_staged"),
                             ("JSCCR", "resect_after_primary")}
    assert _agreement(a, "lung_resection_timing") == "differ"
    assert _views(a)["oligometastatic_systemic"]["ESMO"] == "systemic_first"  # two lesions in one organ
    # without the JSCCR view, NCCN and the lung consensus would agree: the stance codes are the same
    assert len({views["NCCN"], views["Chinese lung consensus"]}) == 1
    _marked_correctly(a)


def test_side_by_side_rectal_lung_surgery_unsuitable_agrees() -> None:
    (v,) = [v for v in VIGNETTES if v.row == "rectal.lung.esmo_ablation"]
    a = mcrc.assess(v.patient)
    assert _views(a)["lung_nonsurgical"].items() >= {("Chinese lung consensus", "ablation_when_surgery_unsuitable"),
                                                     ("ESMO", "ablation_when_surgery_unsuitable")}
    assert _agreement(a, "lung_nonsurgical") == "agree"
    _marked_correctly(a)


def test_side_by_side_peritoneal() -> None:
    a = mcrc.assess(patient(rectum(9), region="japan", metastases=[P1]))
    assert _views(a)["peritoneal"].items() >= {("NCCN", "systemic_relieve_obstruction"), ("ESMO", "crs_if_low_volume"),
                                               ("JSCCR", "resection_by_p_category")}
    assert _agreement(a, "peritoneal") == "differ"
    _marked_correctly(a)


# ------------------------------------------------------------------------------------------------
# Kleene logic: unknown facts leave rows possible, never false
# ------------------------------------------------------------------------------------------------

def test_unknown_pci_and_p_category_are_needed_facts() -> None:
    a = mcrc.assess(patient(rectum(8), metastases=[peri(count=3)]))
    needs = {p.row: set(p.needs) for p in a.possible}
    assert needs[R + "cytoreduction_low_pci"] >= {"pci"}
    assert needs[R + "cytoreduction_p_category"] >= {"p_category"}
    assert {"pci", "p_category"} <= {u.fact for u in a.unknown_facts}
    assert R + "undetermined" in a.fired_rows()


def test_unknown_resectability_or_fitness_do_not_count_as_no() -> None:
    for change in ({"metastases": [merge(LOW_PCI, {"resectability": DROP})]}, {"fitness": {"fit_for_surgery": DROP}}):
        a = mcrc.assess(patient(rectum(8), {"metastases": [LOW_PCI]}, change))
        fired = a.fired_rows()
        assert R + "undetermined" in fired and R + "systemic" not in fired and R + "cytoreduction_low_pci" not in fired
        assert {R + "cytoreduction_low_pci", R + "systemic"} <= {p.row for p in a.possible}


def test_pci_boundary_is_strictly_below_12() -> None:
    at_12 = mcrc.assess(patient(rectum(8), metastases=[peri(count=3, pci=12)]))
    at_11 = mcrc.assess(patient(rectum(8), metastases=[peri(count=3, pci=11)]))
    assert R + "cytoreduction_low_pci" in at_11.fired_rows()
    assert R + "cytoreduction_low_pci" not in at_12.fired_rows()
    assert "cytoreduction_hipec" not in at_12.codes("strategies")


# ------------------------------------------------------------------------------------------------
# Safety invariants hold for every rectal vignette and the sample cases
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vignette", [param(v) for v in VIGNETTES])
def test_no_safety_problem(vignette: V) -> None:
    p = Patient.model_validate(vignette.patient)
    facts = derive_facts(p)
    a = mcrc.assess(vignette.patient)  # raises SafetyViolation if unsafe
    assert check_safety(KB, a, facts) == []
    if facts.values.get("rectal_height") != "upper":
        assert "emergency_stent" not in a.codes()


def test_no_stent_for_any_middle_or_low_rectal_obstruction() -> None:
    for cm in (2, 5, 8, 10):
        for em in ("obstruction", "impending_obstruction"):
            for mets in ([LOW_PCI], [P1], [WIDESPREAD], [LOW_PCI, LIVER_OK]):
                a = mcrc.assess(patient(rectum(cm), primary={"emergency": em}, metastases=mets))
                assert "emergency_stent" not in a.codes(), (cm, em)
                if em == "obstruction":
                    assert {"emergency"} & {KB.vocabulary.get("actions", i.code).klass for i in a.first_steps}


def test_no_cytoreduction_after_progression_on_preoperative_therapy() -> None:
    for mets in ([LOW_PCI], [P1], [P2_PCI_14]):
        a = mcrc.assess(patient(rectum(8), PROGRESSION, metastases=mets))
        assert not {"cytoreduction_hipec", "complete_cytoreduction"} & a.codes()


def test_no_oxaliplatin_from_esmo_after_early_adjuvant_failure() -> None:
    a = mcrc.assess(patient(rectum(9), EARLY_FAILURE, metastases=[found_on(LIVER_OK, "2026-05-18")]))
    assert a.facts["adjuvant_oxaliplatin_failure_12m"] is True
    assert "rectal.liver.esmo_resectable_regimens" not in a.fired_rows()
    assert not any("oxaliplatin" in r.drug_classes for r in a.regimens)


# ------------------------------------------------------------------------------------------------
# Scope of the rows: rectal primaries only
# ------------------------------------------------------------------------------------------------

def test_every_rectal_table_asks_for_a_rectal_primary() -> None:
    for t in KB.tables:
        if t.source == "cancers-2022-rectal":
            assert "primary_site = rectum" in t.applies.text(), t.id


def test_colon_primary_gets_no_rectal_row() -> None:
    for mets in ([LOW_PCI], [LIVER_OK], [lung()]):
        a = mcrc.assess(patient(metastases=mets))  # sigmoid colon
        assert not [r for r in a.fired_rows() if r.startswith("rectal.")]
        assert not [p.row for p in a.possible if p.row.startswith("rectal.")]


def test_colon_peritoneum_only_has_no_frame_yet() -> None:
    """Recorded for the lead: a colon primary with peritoneal-only disease gets no route from any source."""
    a = mcrc.assess(patient(metastases=[LOW_PCI]))
    assert not a.strategies and a.scope.status == "refer_mdt"


def test_unknown_primary_site_leaves_the_route_possible() -> None:
    a = mcrc.assess(patient(primary={"location": DROP}, metastases=[LOW_PCI]))
    assert R + "cytoreduction_low_pci" in {p.row for p in a.possible}
    assert not [r for r in a.fired_rows() if r.startswith("rectal.")]


def test_every_rectal_row_cites_a_table8_column() -> None:
    import re

    pattern = re.compile(r"Table 8, (peritoneal|liver|lung) row, (NCCN|ESMO|JSCCR) column")
    for row in KB.rows.values():
        if row.id.startswith("rectal."):
            assert any(c.source == "cancers-2022-rectal" and pattern.fullmatch(c.where) for c in row.citations), row.id
            if row.position is not None:
                assert any(pattern.fullmatch(c.where) and c.where.endswith(f"{row.position.voice} column")
                           for c in row.citations), row.id
