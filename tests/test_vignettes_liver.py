"""Clinical vignettes for the liver source (liver-sync-meta): at least one realistic patient per row.

Patients are built from `base()` (synchronous sigmoid cT3N1, primary in place and resectable, everything
known, RAS/BRAF wild-type, pMMR) with the lung lesions replaced by liver metastases, plus a few overrides.
Without lung metastases the liver tables frame goal and route; with lung metastases the lung consensus
frames them and the liver tables only add liver-specific parts (checked in the multi-site vignettes).
"""

from __future__ import annotations

import pytest

import mcrc
from tests.patients import DROP, META, course, lung, merge, patient, rectum, site
from tests.vignettes import V, check, param


def liver(resectability: str = "resectable", **kw) -> dict:
    """Liver metastases found at the primary's staging: two 30 mm lesions, small and accessible, minor hepatectomy."""
    lesion = site("liver", "resectable", count=2, largest_size={"value": 30, "unit": "mm"})
    return merge(lesion, {"resectability": resectability, "small_and_accessible": True,
                          "major_resection_needed": False, **kw})


def lp(*layers: dict, **overrides) -> dict:
    """base() with liver metastases instead of lung metastases."""
    return patient({"metastases": [liver()]}, *layers, **overrides)


# Sigmoid cancer resected in March 2024 with adjuvant CAPOX to September 2024; liver metastases 19 months
# after the end of CAPOX (no early oxaliplatin failure): metachronous.
META_LIVER = patient(META, metastases=[liver(count=3, found="2026-04-14")])
# Relapse in the liver 9 months after adjuvant CAPOX: failure within 12 months.
EARLY_FAILURE = {
    "primary": {"diagnosed": "2024-12-20", "status": "resected", "resected_on": "2025-01-20"},
    "metastases": [liver(count=3, found="2026-04-20")],
    "treatment_history": {"courses": [course("adjuvant", "CAPOX", "2025-02-20", "2025-07-31", "completed")],
                          "procedures": [{"kind": "primary_resection", "date": "2025-01-20", "margin": "R0"}]},
}
# Palliative FOLFOX for lung-free liver disease elsewhere ended in progression (oxaliplatin failed, not adjuvant).
PALLIATIVE_OX_FAILED = {"treatment_history": {"courses": [
    course("palliative", "FOLFOX", "2025-10-01", "2026-03-01", "progression", line=1, progression_date="2026-03-01")],
    "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]}}
NEOADJ_PROGRESSION = {"treatment_history": {"courses": [
    course("neoadjuvant", "FOLFOX", "2026-09-15", "2026-11-10", "progression", progression_date="2026-11-10")]}}
RECURRENCE = patient(META, {
    "metastases": [liver(count=2, found="2026-08-03")],
    "treatment_history": {"procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"},
                                         {"kind": "liver_resection", "date": "2025-05-10", "margin": "R0"}]},
})
NED_AFTER_LIVER = patient(META, {
    "metastases": [liver(count=2, found="2026-01-12")], "ned": True, "ned_date": "2026-05-04",
    "treatment_history": {"procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"},
                                         {"kind": "liver_resection", "date": "2026-05-04", "margin": "R1"}]},
})
SINGLE_SMALL = [liver(count=1, largest_size={"value": 14, "unit": "mm"})]
SIX_LESIONS = [liver(count=6, largest_size={"value": 35, "unit": "mm"}, small_and_accessible=False)]
POTENTIAL = [liver("potentially_resectable", count=7, largest_size={"value": 55, "unit": "mm"},
                   small_and_accessible=False, major_resection_needed=True)]
UNRESECTABLE = [liver("unresectable", count=14, largest_size={"value": 60, "unit": "mm"},
                      small_and_accessible=False, major_resection_needed=True)]
DMMR = {"biomarkers": {"mmr": "deficient", "msi": "msi_high"}}
RIGHT = {"primary": {"location": "ascending_colon"}}
RAS_MUTANT = {"biomarkers": {"kras": "mutant"}}
UNFIT_SURGERY = {"fitness": {"fit_for_surgery": False}}

PERIOP_RESECTED = ["preoperative_systemic_therapy resect_or_ablate_liver postoperative_systemic_therapy"]
PERIOP_IN_PLACE = ["preoperative_systemic_therapy resect_primary_and_liver postoperative_systemic_therapy"]
CONVERSION_IN_PLACE = ["conversion_therapy reassess_after_systemic resect_primary_and_liver "
                       "postoperative_systemic_therapy"]
ANTI_EGFR = "FOLFOX_CETUXIMAB FOLFOX_PANITUMUMAB FOLFIRI_CETUXIMAB FOLFIRI_PANITUMUMAB FOLFOXIRI_CETUXIMAB " \
            "FOLFOXIRI_PANITUMUMAB"
TRIPLET_BEV = "FOLFOXIRI_BEV FOLFIRINOX_BEV"

VIGNETTES: list[V] = [
    # --- goal -----------------------------------------------------------------------------------
    V("liver.goal.ned_reached", "after-r1-hepatectomy", NED_AFTER_LIVER, goal="maintain_ned"),
    V("liver.goal.curable", "sync-sigmoid-two-lesions", lp(), goal="ned", not_fired="lung.goal.curable"),
    V("liver.goal.conversion", "seven-lesions-major-hepatectomy", lp(metastases=POTENTIAL),
      goal="conversion_then_ned"),
    V("liver.goal.incurable", "fourteen-bilobar-lesions", lp(metastases=UNRESECTABLE), goal="prolong_survival"),
    V("liver.goal.incurable", "resectable-liver-unresectable-peritoneum",
      lp(metastases=[liver(), site("peritoneum", "unresectable", pci=24)]), goal="prolong_survival",
      scope="refer_mdt", not_fired="liver.goal.curable rectal.peritoneal_route.undetermined"),
    V("liver.goal.undecided", "resectability-not-judged", lp(metastases=[liver(resectability=DROP)]),
      goal="mdt_to_decide", must={"first_steps": "assess_curability", "referrals": "refer_mdt"}, scope="refer_mdt",
      possible="liver.goal.curable liver.goal.conversion liver.goal.incurable"),
    V("liver.goal.undecided", "liver-and-peritoneum-both-resectable",
      lp(metastases=[liver(), site("peritoneum", "resectable", pci=4)]), goal="mdt_to_decide", scope="refer_mdt"),

    # --- route ----------------------------------------------------------------------------------
    V("liver.route.after_ned", "after-r1-hepatectomy", NED_AFTER_LIVER, steps=["surveillance"],
      must={"considerations": "complete_planned_postop", "warnings": "r1_continue_chemotherapy"},
      no_class="local_liver surgery_primary", not_fired="liver.warnings.complete_response liver.periop.folfox"),
    V("liver.route.neoadjuvant_progression", "progression-on-preop-folfox", lp(NEOADJ_PROGRESSION),
      steps=["mdt_discussion salvage_therapy reassess_after_systemic"],
      must={"warnings": "neoadjuvant_progression", "considerations": "best_salvage_after_progression"},
      no_class="local_liver surgery_primary", must_not={"local_treatment": "simultaneous_primary_liver_resection"},
      not_fired="liver.periop.folfox liver.primary.simultaneous liver.warnings.complete_response"),
    V("liver.route.neoadjuvant_progression", "progression-on-conversion-triplet",
      lp(metastases=POTENTIAL, treatment_history={"courses": [
          course("conversion", "FOLFOXIRI_BEV", "2026-09-15", "2026-11-12", "progression")]}),
      steps=["mdt_discussion salvage_therapy reassess_after_systemic"], no_class="local_liver surgery_primary",
      must_not={"regimens": TRIPLET_BEV}, not_fired="liver.conversion.mutant liver.conversion.principles"),
    V("liver.route.recurrence", "relapse-after-hepatectomy", RECURRENCE,
      must={"referrals": "liver_recurrence_mdt",
            "considerations": "recurrence_individual_decision re_resection_improves_survival"},
      scope="refer_mdt", steps=[], must_not={"regimens": "FOLFOX"}, not_fired="liver.route.periop_primary_resected"),
    V("liver.route.unresectable", "fourteen-bilobar-lesions", lp(metastases=UNRESECTABLE),
      steps=["systemic_therapy reassess_after_systemic"],
      must={"considerations": "unresectable_conversion_approach conversion_reassess_2_months",
            "regimens": "FOLFOX_CETUXIMAB FOLFIRI_CETUXIMAB"},
      no_class="local_liver surgery_primary", not_fired="liver.primary.approaches liver.warnings.complete_response"),
    V("liver.route.extrahepatic", "liver-and-peritoneum", lp(metastases=[liver(), site("peritoneum", "resectable",
                                                                                       pci=4)]),
      must={"referrals": "refer_mdt", "considerations": "extrahepatic_not_addressed chemo_first_regimen_open "
                                                        "pmmr_chemo_then_local"}, steps=[],
      must_not={"regimens": "FOLFOX", "local_treatment": "simultaneous_primary_liver_resection"}, scope="refer_mdt",
      not_fired="liver.route.periop_primary_in_place liver.periop.folfox liver.primary.simultaneous "
                "liver.primary.approaches rectal.peritoneal_route.undetermined"),
    V("liver.route.extrahepatic", "liver-and-distant-nodes-dmmr",
      lp(DMMR, metastases=[liver(), site("distant_lymph_nodes", "resectable")]),
      must={"referrals": "refer_mdt", "regimens": "PEMBROLIZUMAB"}, scope="refer_mdt"),
    V("liver.route.primary_not_removable", "sigmoid-cT4b-fixed",
      lp(primary={"ct": "T4b", "cn": "N2", "resectability": "unresectable"}),
      must={"referrals": "refer_mdt", "considerations": "primary_not_removable_not_addressed"}, scope="refer_mdt",
      steps=[], goal="mdt_to_decide", must_not={"local_treatment": "simultaneous_primary_liver_resection"},
      not_fired="liver.primary.simultaneous liver.primary.approaches"),
    V("liver.route.primary_not_removable", "anastomotic-recurrence",
      merge(META_LIVER, {"primary": {"status": "local_recurrence", "resectability": "resectable"}}),
      must={"referrals": "refer_mdt"}, scope="refer_mdt"),

    V("liver.route.periop_primary_resected", "metachronous-three-lesions", META_LIVER, steps=PERIOP_RESECTED,
      goal="ned", must={"regimens": "FOLFOX", "considerations": "periop_folfox_criteria pmmr_chemo_then_local",
                        "warnings": "avoid_complete_response periop_max_6_months"},
      must_not={"regimens": "FOLFIRI CAPOX FOLFOXIRI_BEV", "local_treatment": "simultaneous_primary_liver_resection"},
      not_fired="liver.primary.approaches liver.prognosis.synchronous"),
    V("liver.route.periop_primary_resected", "early-adjuvant-oxaliplatin-failure", lp(EARLY_FAILURE),
      steps=PERIOP_RESECTED, must={"regimens": "FOLFIRI", "warnings": "no_periop_oxaliplatin"},
      must_not={"regimens": "FOLFOX CAPOX FOLFOX_CETUXIMAB"},
      not_fired="liver.periop.folfox liver.route.chemo_first_primary_resected"),
    V("liver.route.periop_primary_resected", "single-small-but-unfit-for-surgery",
      merge(META_LIVER, {"metastases": SINGLE_SMALL, **UNFIT_SURGERY}), steps=PERIOP_RESECTED,
      must={"regimens": "FOLFOX"}, not_fired="liver.route.single_small_primary_resected"),
    V("liver.route.periop_primary_in_place", "sync-sigmoid-two-lesions", lp(), steps=PERIOP_IN_PLACE,
      must={"regimens": "FOLFOX", "local_treatment": "simultaneous_primary_liver_resection"},
      must_not={"strategies": "resect_or_ablate_liver", "regimens": "FOLFIRI"}),
    V("liver.route.periop_primary_in_place", "four-lesions-upper-limit", lp(metastases=[liver(count=4)]),
      steps=PERIOP_IN_PLACE, not_fired="liver.route.chemo_first_primary_in_place liver.periop.beyond_folfox_criteria"),
    # review L05: the source says such a lesion *may* go to surgery first: that strategy first, 3 + 3 beside it
    V("liver.route.single_small_primary_resected", "metachronous-14mm", merge(META_LIVER, {"metastases": SINGLE_SMALL}),
      steps=["upfront_liver_resection postoperative_systemic_therapy",
             "preoperative_systemic_therapy resect_or_ablate_liver postoperative_systemic_therapy"], goal="ned",
      must={"regimens": "FOLFOX", "considerations": "vanishing_small_lesion"},
      not_fired="liver.route.periop_primary_resected"),
    V("liver.route.single_small_primary_resected", "early-failure-folfiri-after-surgery",
      lp(EARLY_FAILURE, metastases=[merge(SINGLE_SMALL[0], {"found": "2026-04-20"})]),
      steps=["upfront_liver_resection postoperative_systemic_therapy",
             "preoperative_systemic_therapy resect_or_ablate_liver postoperative_systemic_therapy"],
      must={"regimens": "FOLFIRI"}, must_not={"regimens": "FOLFOX"}),
    V("liver.route.single_small_primary_in_place", "sync-sigmoid-single-16mm",
      lp(metastases=[liver(count=1, largest_size={"value": 16, "unit": "mm"})]),
      steps=["resect_primary_and_liver postoperative_systemic_therapy",
             "preoperative_systemic_therapy resect_primary_and_liver postoperative_systemic_therapy"],
      must={"regimens": "FOLFOX", "local_treatment": "simultaneous_primary_liver_resection"}),
    V("liver.route.chemo_first_primary_resected", "six-lesions", merge(META_LIVER, {"metastases": SIX_LESIONS}),
      steps=["preoperative_systemic_therapy resect_or_ablate_liver"],
      must={"considerations": "chemo_first_regimen_open pmmr_chemo_then_local"},
      must_not={"regimens": "FOLFOX FOLFIRI"}, not_fired="liver.periop.folfox"),
    V("liver.route.chemo_first_primary_resected", "oxaliplatin-failed-in-palliative-line",
      merge(merge(META_LIVER, PALLIATIVE_OX_FAILED), {"metastases": [liver(count=2, found="2025-09-20")]}),
      steps=["preoperative_systemic_therapy resect_or_ablate_liver"],
      must={"considerations": "oxaliplatin_failed_regimen"}, must_not={"regimens": "FOLFOX"}),
    V("liver.route.chemo_first_primary_in_place", "sync-sigmoid-six-lesions", lp(metastases=SIX_LESIONS),
      steps=["preoperative_systemic_therapy resect_primary_and_liver"],
      # one-stage surgery not feasible for six lesions: the source's rule is liver first (review D3, decision 0031)
      must={"local_treatment": "liver_first_resection"}, must_not={"local_treatment": "primary_first_resection"}),
    V("liver.route.dmmr_primary_resected", "metachronous-msi-high", merge(META_LIVER, DMMR),
      steps=["immunotherapy resect_or_ablate_liver"],
      must={"regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB", "considerations": "dmmr_immunotherapy_then_local"},
      must_not={"regimens": "FOLFOX"}, not_fired="liver.route.periop_primary_resected"),
    V("liver.route.dmmr_primary_in_place", "sync-right-colon-dmmr", lp(DMMR, RIGHT),
      steps=["immunotherapy resect_primary_and_liver"], must={"strategies": "PEMBROLIZUMAB"}),
    V("liver.route.conversion_primary_resected", "metachronous-seven-lesions",
      merge(META_LIVER, {"metastases": POTENTIAL}),
      steps=["conversion_therapy reassess_after_systemic resect_or_ablate_liver postoperative_systemic_therapy"],
      goal="conversion_then_ned", must={"considerations": "conversion_reassess_2_months "
                                                          "conversion_continue_same_regimen"}),
    V("liver.route.conversion_primary_in_place", "sync-sigmoid-seven-lesions", lp(metastases=POTENTIAL),
      steps=CONVERSION_IN_PLACE, goal="conversion_then_ned", must={"local_treatment": "liver_first_resection"}),
    # issue 18 (decision 0032): the summary's immunotherapy before surgery, read for potentially resectable disease
    V("liver.route.dmmr_potentially_resectable", "msi-high-seven-lesions", lp(DMMR, metastases=POTENTIAL),
      must={"regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB",
            "considerations": "conversion_dmmr_silent dmmr_immunotherapy_then_local"},
      steps=["immunotherapy reassess_after_systemic resect_or_ablate_liver"], goal="conversion_then_ned",
      must_not={"regimens": f"{TRIPLET_BEV} {ANTI_EGFR}", "referrals": "refer_mdt"}),
    V("liver.route.undetermined", "mmr-not-tested", lp(biomarkers={"mmr": DROP, "msi": DROP}),
      must={"referrals": "refer_mdt", "tests": "mmr_msi_testing"}, scope="refer_mdt", goal="ned", steps=[],
      must_not={"regimens": "FOLFOX PEMBROLIZUMAB"},
      possible="liver.route.periop_primary_in_place liver.route.dmmr_primary_in_place"),

    # --- primary in place: timing ---------------------------------------------------------------
    V("liver.primary.symptomatic_first", "bleeding-sigmoid", lp(primary={"emergency": "bleeding"}),
      must={"local_treatment": "primary_first_resection", "first_steps": "emergency_resection"},
      must_not={"local_treatment": "simultaneous_primary_liver_resection liver_first_resection"}),
    V("liver.primary.symptomatic_first", "subocclusive-sigmoid", lp(primary={"emergency": "impending_obstruction"}),
      must={"local_treatment": "primary_first_resection", "warnings": "impending_obstruction"}),
    V("liver.primary.liver_first", "ecog-2", lp(ecog=2),
      must={"local_treatment": "liver_first_resection"},
      must_not={"local_treatment": "simultaneous_primary_liver_resection primary_first_resection"},
      not_fired="liver.primary.simultaneous liver.primary.staged"),
    V("liver.primary.liver_first", "major-hepatectomy-needed", lp(metastases=[liver(major_resection_needed=True)]),
      must={"local_treatment": "liver_first_resection"},
      must_not={"local_treatment": "simultaneous_primary_liver_resection"}),
    V("liver.primary.simultaneous", "small-accessible-ecog-0", lp(),
      must={"local_treatment": "simultaneous_primary_liver_resection", "considerations": "simultaneous_benefits"},
      must_not={"local_treatment": "liver_first_resection primary_first_resection"}),
    V("liver.primary.staged", "deep-lesions-ecog-1", lp(ecog=1, metastases=[liver(small_and_accessible=False)]),
      must={"local_treatment": "liver_first_resection", "considerations": "simultaneous_small_accessible_only"},
      must_not={"local_treatment": "simultaneous_primary_liver_resection primary_first_resection"}),
    V("liver.primary.approaches", "sync-sigmoid-two-lesions", lp(),
      must={"considerations": "three_timing_approaches simultaneous_benefits delayed_liver_same_survival"}),
    V("liver.primary.rectal_radiotherapy", "mid-rectum-cT3N1", lp(rectum(7)),
      must={"local_treatment": "pelvic_radiotherapy", "considerations": "pelvic_rt_by_stage"}),
    V("liver.primary.approaches", "upper-rectum-no-pelvic-rt", lp(rectum(13)),
      must_not={"local_treatment": "pelvic_radiotherapy"}, not_fired="liver.primary.rectal_radiotherapy"),
    V("liver.primary.rectal_liver_first", "low-rectum-high-burden",
      lp(rectum(5, "T3", "N2"), RAS_MUTANT, tumour_burden="high", metastases=POTENTIAL),
      must={"local_treatment": "liver_first_resection pelvic_radiotherapy",
            "considerations": "liver_first_rectal_high_burden", "regimens": TRIPLET_BEV},
      steps=None, goal="conversion_then_ned"),

    # --- resectable: regimens and positions -----------------------------------------------------
    V("liver.periop.folfox", "sync-sigmoid-two-lesions", lp(), must={"regimens": "FOLFOX"},
      must_not={"regimens": "CAPOX FOLFIRI PEMBROLIZUMAB"}),
    V("liver.periop.early_oxaliplatin_failure", "relapse-9-months-after-capox", lp(EARLY_FAILURE),
      must={"regimens": "FOLFIRI"}, must_not={"regimens": "FOLFOX"}),
    V("liver.periop.other_oxaliplatin_failure", "oxaliplatin-failed-in-palliative-line",
      merge(merge(META_LIVER, PALLIATIVE_OX_FAILED), {"metastases": [liver(count=2, found="2025-09-20")]}),
      must={"considerations": "oxaliplatin_failed_regimen"}, must_not={"regimens": "FOLFOX FOLFIRI"},
      not_fired="liver.periop.early_oxaliplatin_failure"),
    V("liver.periop.beyond_folfox_criteria", "six-lesions", lp(metastases=SIX_LESIONS),
      must={"considerations": "chemo_first_regimen_open"}, must_not={"regimens": "FOLFOX"}),
    V("liver.periop.dmmr", "sync-sigmoid-msi-high", lp(DMMR),
      must={"regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB"}, must_not={"regimens": "FOLFOX"}),
    V("liver.periop.pmmr_with_lung", "lung-and-liver-both-resectable", patient(metastases=[lung(), liver()]),
      must={"considerations": "pmmr_chemo_then_local chemo_first_regimen_open", "warnings": "avoid_complete_response"},
      must_not={"regimens": "FOLFOX"}, goal="ned",
      not_fired="liver.goal.curable liver.route.extrahepatic liver.route.undetermined liver.tests.ras"),

    # --- conversion regimens --------------------------------------------------------------------
    V("liver.conversion.principles", "sync-sigmoid-seven-lesions", lp(metastases=POTENTIAL),
      must={"considerations": "conversion_reassess_2_months conversion_continue_same_regimen"}),
    V("liver.conversion.left_wild_type_doublet", "left-ras-braf-wild-type", lp(metastases=POTENTIAL),
      must={"regimens": "FOLFIRI_CETUXIMAB FOLFIRI_PANITUMUMAB", "considerations": "doublet_preferred_left"},
      must_not={"regimens": TRIPLET_BEV}),
    V("liver.conversion.left_wild_type_oxaliplatin", "left-ras-braf-wild-type", lp(metastases=POTENTIAL),
      must={"regimens": "FOLFOX_CETUXIMAB FOLFOX_PANITUMUMAB FOLFOXIRI_CETUXIMAB FOLFOXIRI_PANITUMUMAB"},
      must_not={"regimens": "FOLFOX_BEV FOLFOXIRI_BEV"}),
    V("liver.conversion.left_wild_type_doublet", "left-after-early-oxaliplatin-failure",
      lp(EARLY_FAILURE, metastases=[liver("potentially_resectable", count=7, found="2026-04-20")]),
      must={"regimens": "FOLFIRI_CETUXIMAB FOLFIRI FOLFIRI_PANITUMUMAB", "warnings": "no_periop_oxaliplatin"},
      must_not={"regimens": "FOLFOX_CETUXIMAB FOLFOXIRI_CETUXIMAB FOLFOX"},
      not_fired="liver.conversion.left_wild_type_oxaliplatin"),
    V("liver.conversion.right_wild_type", "right-ras-braf-wild-type", lp(RIGHT, metastases=POTENTIAL),
      must={"regimens": f"{TRIPLET_BEV} FOLFOXIRI_CETUXIMAB FOLFOXIRI_PANITUMUMAB",
            "considerations": "bev_preferred_right"},
      must_not={"regimens": "FOLFOX_CETUXIMAB FOLFIRI_CETUXIMAB"}, not_fired="liver.conversion.left_wild_type_doublet"),
    V("liver.conversion.mutant", "kras-mutant", lp(RAS_MUTANT, metastases=POTENTIAL),
      must={"regimens": TRIPLET_BEV, "considerations": "triplet_bev_mutant"}, must_not={"regimens": ANTI_EGFR},
      not_fired="liver.conversion.left_wild_type_doublet liver.conversion.right_wild_type"),
    V("liver.conversion.mutant", "braf-v600e", lp({"biomarkers": {"braf": "v600e"}}, metastases=POTENTIAL),
      must={"regimens": TRIPLET_BEV}, must_not={"regimens": ANTI_EGFR}),
    V("liver.conversion.mutant", "braf-non-v600e", lp({"biomarkers": {"braf": "non_v600e"}}, metastases=POTENTIAL),
      must={"regimens": TRIPLET_BEV}, must_not={"regimens": ANTI_EGFR}),
    V("liver.conversion.oxaliplatin_failed", "right-after-early-oxaliplatin-failure",
      lp(EARLY_FAILURE, RIGHT, metastases=[liver("potentially_resectable", count=7, found="2026-04-20")]),
      must={"regimens": "FOLFIRI", "considerations": "oxaliplatin_failed_regimen"},
      must_not={"regimens": f"{TRIPLET_BEV} FOLFOXIRI_CETUXIMAB"}),
    V("liver.conversion.dmmr", "msi-high-unresectable", lp(DMMR, metastases=UNRESECTABLE),
      must={"considerations": "conversion_dmmr_silent"}, must_not={"regimens": TRIPLET_BEV},
      not_fired="liver.conversion.left_wild_type_doublet liver.conversion.left_wild_type_oxaliplatin "
                "liver.conversion.mutant"),
    V("liver.conversion.triplet_unfit", "kras-mutant-frail",
      lp(RAS_MUTANT, ecog=2, fitness={"fit_for_intensive_therapy": False}, metastases=POTENTIAL),
      must={"warnings": "triplet_fitness"}),

    # --- warnings -------------------------------------------------------------------------------
    V("liver.warnings.complete_response", "sync-sigmoid-two-lesions", lp(),
      must={"warnings": "avoid_complete_response"}),
    V("liver.warnings.neoadjuvant_progression", "progression-on-preop-folfox", lp(NEOADJ_PROGRESSION),
      must={"warnings": "neoadjuvant_progression", "prognosis": "neoadjuvant_progression"}),
    V("liver.warnings.early_oxaliplatin_failure", "relapse-9-months-after-capox", lp(EARLY_FAILURE),
      must={"warnings": "no_periop_oxaliplatin"}),
    V("liver.warnings.r1", "after-r1-hepatectomy", NED_AFTER_LIVER, must={"warnings": "r1_continue_chemotherapy"}),

    # --- tests ----------------------------------------------------------------------------------
    V("liver.tests.ras", "ras-unknown-left-potentially-resectable",
      lp(biomarkers={"kras": DROP, "nras": DROP}, metastases=POTENTIAL),
      must={"tests": "ras_testing", "considerations": "conversion_reassess_2_months"},
      must_not={"regimens": f"{ANTI_EGFR} {TRIPLET_BEV}", "tests": "braf_testing mmr_msi_testing"},
      possible="liver.conversion.left_wild_type_doublet liver.conversion.left_wild_type_oxaliplatin "
               "liver.conversion.mutant", goal="conversion_then_ned"),
    V("liver.tests.braf", "braf-pending", lp(biomarkers={"braf": DROP}, metastases=POTENTIAL),
      must={"tests": "braf_testing"}, must_not={"regimens": ANTI_EGFR},
      possible="liver.conversion.left_wild_type_doublet liver.conversion.mutant"),
    V("liver.tests.mmr", "mmr-not-tested", lp(biomarkers={"mmr": DROP, "msi": DROP}),
      must={"tests": "mmr_msi_testing"}, scope="refer_mdt"),

    # --- prognosis and principles ---------------------------------------------------------------
    V("liver.prognosis.synchronous", "sync-sigmoid-two-lesions", lp(),
      must={"prognosis": "sync_aggressive_biology sync_short_dfi"}),
    V("liver.prognosis.curative_survival", "metachronous-three-lesions", META_LIVER,
      must={"prognosis": "similar_os_after_resection"}, must_not={"prognosis": "sync_aggressive_biology"}),
    V("liver.prognosis.recurrence_risk", "sync-sigmoid-two-lesions", lp(),
      must={"prognosis": "recurrence_after_hepatectomy"}),
    V("liver.prognosis.re_resection", "relapse-after-hepatectomy", RECURRENCE,
      must={"considerations": "re_resection_improves_survival"}, scope="refer_mdt"),
    V("liver.mdt.same_assessment", "metachronous-three-lesions", META_LIVER,
      must={"considerations": "same_assessment_sync_meta"}),

    # --- several sites --------------------------------------------------------------------------
    V("lung.route.table4_both_curable", "lung-and-liver-liver-extras", patient(metastases=[lung(), liver()]),
      steps=["preoperative_systemic_therapy staged_radical_local_treatment adjuvant_chemotherapy"], goal="ned",
      must={"warnings": "avoid_complete_response", "local_treatment": "simultaneous_primary_liver_resection",
            "considerations": "pmmr_chemo_then_local same_assessment_sync_meta"},
      must_not={"strategies": "resect_primary_and_liver resect_or_ablate_liver"},
      not_fired="liver.goal.curable liver.route.periop_primary_in_place liver.periop.folfox"),
    V("lung.route.table4_lung_curable_other_not", "lung-and-potentially-resectable-liver-right-colon",
      patient(RIGHT, metastases=[lung(), liver("potentially_resectable", count=7, small_and_accessible=False)]),
      steps=["systemic_therapy reassess_after_systemic"], goal="conversion_then_ned",
      must={"regimens": TRIPLET_BEV, "considerations": "conversion_reassess_2_months"},
      must_not={"regimens": "FOLFOX_CETUXIMAB"}, not_fired="liver.route.conversion_primary_in_place"),
]


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("vignette", [param(v) for v in VIGNETTES])
def test_vignette(vignette: V) -> None:
    check(vignette)



# ------------------------------------------------------------------------------------------------
# Details that the table-driven vignettes do not reach
# ------------------------------------------------------------------------------------------------

def _strategy(a: mcrc.Assessment, row: str):
    (s,) = [s for s in a.strategies if s.row == row]
    return s


def test_periop_folfox_timeline_is_three_months_surgery_three_months() -> None:
    a = mcrc.assess(lp())
    s = _strategy(a, "liver.route.periop_primary_in_place")
    assert [(p.code, p.start_month, p.end_month) for p in s.timeline] == [
        ("preoperative_systemic_therapy", 0, 3), ("resect_primary_and_liver", 3, 3),
        ("postoperative_systemic_therapy", 3, 6)]


def test_single_small_lesion_gets_six_months_after_surgery() -> None:
    a = mcrc.assess(merge(META_LIVER, {"metastases": SINGLE_SMALL}))
    first, alternative = (s for s in a.strategies if s.row == "liver.route.single_small_primary_resected")
    assert [(st.code, st.months) for st in first.steps] == [("upfront_liver_resection", None),
                                                             ("postoperative_systemic_therapy", 6)]
    assert [(st.code, st.months) for st in alternative.steps] == [  # 3 + 3, the source's "may" (review L05)
        ("preoperative_systemic_therapy", 3), ("resect_or_ablate_liver", None), ("postoperative_systemic_therapy", 3)]


def test_conversion_restages_every_two_months() -> None:
    a = mcrc.assess(lp(metastases=POTENTIAL))
    s = _strategy(a, "liver.route.conversion_primary_in_place")
    (restage,) = [st for st in s.steps if st.code == "reassess_after_systemic"]
    assert restage.every_months == 2


def test_no_liver_goal_or_route_when_lungs_are_involved() -> None:
    for p in (patient(metastases=[lung(), liver()]), patient(metastases=[lung(), liver("unresectable")]),
              patient(metastases=[lung(), liver("potentially_resectable")])):
        fired = mcrc.assess(p).fired_rows()
        assert not [r for r in fired if r.startswith(("liver.goal.", "liver.route.", "liver.tests."))], fired
        assert [r for r in fired if r.startswith("lung.route.")]


def test_one_position_per_topic_from_this_source() -> None:
    for v in VIGNETTES:
        a = mcrc.assess(v.patient)
        for topic in a.positions:
            mine = [view for view in topic.views if view.source == "liver-sync-meta"]
            assert len(mine) <= 1, (v.id, topic.topic, [view.row for view in mine])


def test_anti_egfr_never_definite_without_ras_wild_type() -> None:
    for v in VIGNETTES:
        a = mcrc.assess(v.patient)
        if a.facts.get("ras") != "wild_type":
            assert not any("anti_egfr" in r.drug_classes for r in a.regimens), v.id


def test_every_liver_patient_without_lung_gets_a_goal_and_a_route() -> None:
    for v in VIGNETTES:
        a = mcrc.assess(v.patient)
        if a.facts.get("liver_mets") and not a.facts.get("lung_mets"):
            fired = a.fired_rows()
            assert a.goal is not None, v.id
            assert [r for r in fired if r.startswith("liver.route.")], v.id
