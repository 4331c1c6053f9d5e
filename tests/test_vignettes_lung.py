"""Clinical vignettes: at least one realistic patient for every row of every knowledge table.

Each vignette is a patient built from `base()` (a synchronous sigmoid-colon cancer with two resectable
lung metastases, everything known) plus a few overrides. A vignette names the row it is written for
and asserts that the row fires, the codes the consensus requires, and the codes that would be
clinically wrong. `test_every_row_has_a_vignette` fails when a row is added without a vignette.

Vignettes marked `xfail` describe what we believe the correct behaviour is where the knowledge base
currently disagrees (see the reason on each one).
"""

from __future__ import annotations

import datetime as dt

import pytest

import mcrc
from tests.patients import DROP, META, base, course, lung, merge, patient, rectum, site  # noqa: F401
from tests.vignettes import V, check, param

LYMPHANGITIC = [lung(count=30, bilateral=True, lymphangitic=True, symptomatic=True, hilar_mediastinal_nodes=True,
                     zone=DROP, resectability="unresectable")]
UNRESECTABLE_LUNG = lung(count=14, bilateral=True, largest_size={"value": 22, "unit": "mm"}, zone=DROP,
                         resectability="unresectable")
POTENTIAL_LUNG = lung(count=1, largest_size={"value": 38, "unit": "mm"}, zone="inner",
                      resectability="potentially_resectable")  # abuts the hilum
LIVER_OK = site("liver", "resectable", count=2, largest_size={"value": 30, "unit": "mm"})
LIVER_BAD = site("liver", "unresectable", count=9, largest_size={"value": 45, "unit": "mm"})
NEOADJ_PROGRESSION = {"treatment_history": {"courses": [
    course("neoadjuvant", "FOLFOX", "2026-09-15", "2026-11-10", "progression", progression_date="2026-11-10")]}}
UNFIT = {"fitness": {"fit_for_surgery": False}}  # FEV1 too low for any lung resection
DECLINES = {"preferences": {"declines_surgery": True}}

# Isolated unresectable lung metastases (found 2024) treated with palliative FOLFOX then FOLFIRI.
LATER_LINE = {
    "primary": {"diagnosed": "2023-02-10", "status": "resected", "resected_on": "2023-03-06"},
    "metastases": [merge(UNRESECTABLE_LUNG, {"found": "2024-11-04"})],
    "treatment_history": {
        "courses": [course("adjuvant", "CAPOX", "2023-04-03", "2023-09-18", "completed"),
                    course("palliative", "FOLFOX", "2024-11-20", "2025-09-01", "progression", line=1),
                    course("palliative", "FOLFIRI", "2025-09-15", "2026-10-20", "progression", line=2)],
        "procedures": [{"kind": "primary_resection", "date": "2023-03-06", "margin": "R0"}],
    },
}


# ------------------------------------------------------------------------------------------------
# Vignettes
# ------------------------------------------------------------------------------------------------

TABLE2_OTHER_STEPS = [
    "preoperative_systemic_therapy resect_primary resect_lung_metastases adjuvant_chemotherapy",
    "resect_primary interval_systemic_therapy resect_lung_metastases adjuvant_chemotherapy",
    "resect_primary resect_lung_metastases adjuvant_chemotherapy",
]
NO_RECTAL_RT = {"strategies": "rectal_neoadjuvant_radiotherapy total_neoadjuvant_therapy"}

VIGNETTES: list[V] = [
    # --- scope ----------------------------------------------------------------------------------
    V("scope.sites_not_recorded", "referral-letter-without-staging", patient(metastases=DROP),
      must={"referrals": "refer_mdt"}, scope="refer_mdt", not_fired="lung.goal.undecided lung.route.undetermined",
      must_not={"all": "resect_lung_metastases"}),
    V("scope.no_metastases", "stage-iii-after-resection", patient(metastases=[]),
      must={"referrals": "out_of_scope"}, scope="out_of_scope",
      not_fired="lung.workup.all lung.route.undetermined lung.goal.undecided"),
    V("scope.colon_peritoneal_only", "sigmoid-peritoneal-nodules",
      patient(metastases=[site("peritoneum", "potentially_resectable", count=6, pci=9)]),
      must={"referrals": "refer_mdt"}, scope="refer_mdt", not_fired="lung.workup.all"),
    V("scope.ned_without_lung", "ned-after-cytoreduction",
      patient(META, rectum(9), ned=True, ned_date="2026-06-01",
              metastases=[site("peritoneum", "resectable", found="2026-01-10", pci=6)],
              treatment_history={"procedures": [{"kind": "cytoreduction", "date": "2026-05-20", "margin": "R0"}]}),
      must={"referrals": "refer_mdt"}, scope="refer_mdt", no_class="local_peritoneal"),
    V("scope.peritoneal_primary_unknown", "peritoneal-nodules-primary-site-not-recorded",
      patient(primary={"location": DROP}, metastases=[site("peritoneum", "potentially_resectable", count=4)]),
      must={"referrals": "refer_mdt"}, scope="refer_mdt", not_fired="scope.colon_peritoneal_only"),
    V("scope.other_sites_only", "isolated-bone-metastasis", patient(metastases=[site("bone", "unresectable")]),
      must={"referrals": "refer_mdt"}, scope="refer_mdt", not_fired="lung.route.undetermined"),

    # --- emergencies ----------------------------------------------------------------------------
    V("lung.emergency.urgent", "obstructing-sigmoid", patient(primary={"emergency": "obstruction"}),
      must={"first_steps": "emergency_resection emergency_colostomy", "warnings": "emergency_first"}),
    V("lung.emergency.urgent", "bleeding-low-rectum-no-stent",
      patient(rectum(4), primary={"emergency": "bleeding"}),
      must={"first_steps": "emergency_resection emergency_colostomy", "warnings": "emergency_first"},
      must_not={"first_steps": "emergency_stent"}, not_fired="lung.emergency.stent_allowed"),
    V("lung.emergency.stent_allowed", "obstructing-sigmoid", patient(primary={"emergency": "obstruction"}),
      must={"first_steps": "emergency_stent emergency_resection"}),
    V("lung.emergency.stent_allowed", "obstructing-upper-rectum",
      patient(rectum(13), primary={"emergency": "obstruction"}), must={"first_steps": "emergency_stent"}),
    V("lung.emergency.urgent", "perforated-sigmoid-no-stent", patient(primary={"emergency": "perforation"}),
      must={"first_steps": "emergency_resection emergency_colostomy"}, must_not={"first_steps": "emergency_stent"}),
    V("lung.emergency.impending", "subocclusive-sigmoid", patient(primary={"emergency": "impending_obstruction"}),
      must={"first_steps": "mdt_discussion", "warnings": "impending_obstruction"},
      must_not={"warnings": "emergency_first", "first_steps": "emergency_resection"},
      not_fired="lung.emergency.urgent"),

    # --- goal -----------------------------------------------------------------------------------
    V("lung.goal.lymphangitic", "diffuse-lymphangitic", patient(metastases=LYMPHANGITIC), goal="prolong_survival"),
    V("lung.goal.curable", "sync-colon-resectable", patient(), goal="ned"),
    V("lung.goal.conversion", "lesion-at-hilum", patient(metastases=[POTENTIAL_LUNG]), goal="conversion_then_ned"),
    V("lung.goal.conversion", "primary-cT4b-potentially-resectable",
      patient(primary={"ct": "T4b", "resectability": "potentially_resectable"}), goal="conversion_then_ned"),
    V("lung.goal.incurable", "many-bilateral", patient(metastases=[UNRESECTABLE_LUNG]), goal="prolong_survival",
      not_fired="lung.goal.curable"),
    V("lung.goal.undecided", "resectability-not-judged", patient(metastases=[lung(resectability=DROP)]),
      goal="mdt_to_decide", must={"first_steps": "assess_curability"}, scope="refer_mdt",
      possible="lung.goal.curable lung.goal.conversion lung.goal.incurable"),

    # --- route ----------------------------------------------------------------------------------
    V("lung.route.lymphangitic", "diffuse-lymphangitic", patient(metastases=LYMPHANGITIC),
      steps=["systemic_therapy"], must={"warnings": "lymphangitic_poor_outcome no_local_lung_treatment",
                                        "considerations": "regimen_by_patient_factors"},
      no_class="local_lung", must_not={"local_treatment": "lung_sbrt lung_rfa lung_sublobar_resection"}),
    V("lung.route.lymphangitic", "lymphangitic-judged-resectable-still-no-local",
      patient(metastases=[merge(LYMPHANGITIC[0], {"count": 3, "bilateral": False, "resectability": "resectable"})]),
      steps=["systemic_therapy"], must={"warnings": "no_local_lung_treatment"}, no_class="local_lung"),
    V("lung.route.non_initial", "lung-during-folfiri-for-liver",
      patient(META, metastases=[site("liver", "unresectable", count=6, found="2025-06-10"),
                                lung(count=3, bilateral=True, found="2026-07-15", resectability="unresectable")],
              treatment_history={"courses": [
                  course("adjuvant", "CAPOX", "2024-04-15", "2024-09-30", "completed"),
                  course("palliative", "FOLFIRI", "2025-06-30", "2026-07-15", "progression", line=1)]}),
      must={"referrals": "mdt_non_initial", "warnings": "non_initial_low_efficacy"}, steps=[], scope="refer_mdt"),
    V("lung.route.primary_not_curable", "sigmoid-cT4b-fixed",
      patient(primary={"ct": "T4b", "cn": "N2", "resectability": "unresectable"}),
      steps=["systemic_therapy reassess_after_systemic mdt_discussion"], goal="conversion_then_ned",
      must={"considerations": "primary_reassess_after_systemic"},
      must_not={"strategies": "resect_primary resect_primary_and_lung resect_lung_metastases",
                "local_treatment": "lung_sublobar_resection"}),
    V("lung.route.primary_not_curable", "presacral-rectal-recurrence",
      patient(META, rectum(5), primary={"status": "local_recurrence", "resectability": "unresectable"}),
      steps=["systemic_therapy reassess_after_systemic mdt_discussion"],
      must_not={"strategies": "resect_primary resect_lung_metastases"}),
    V("lung.route.primary_not_curable", "primary-potentially-resectable",
      patient(primary={"ct": "T4b", "resectability": "potentially_resectable"}),
      steps=["systemic_therapy reassess_after_systemic mdt_discussion"], goal="conversion_then_ned"),
    V("lung.route.table2_rectal_advanced", "mid-rectum-cT3N1", patient(rectum(6)),
      steps=["preoperative_systemic_therapy rectal_neoadjuvant_radiotherapy resect_primary_and_lung "
             "adjuvant_chemotherapy",
             "preoperative_systemic_therapy rectal_neoadjuvant_radiotherapy resect_primary "
             "interval_systemic_therapy resect_lung_metastases adjuvant_chemotherapy"],
      must={"warnings": "periop_max_6_months", "considerations": "local_order_by_mdt_rectal"},
      not_fired="lung.route.table2_other", goal="ned"),
    V("lung.route.table2_rectal_advanced", "low-rectum-cT2N1", patient(rectum(8, "T2", "N1")),
      must={"strategies": "rectal_neoadjuvant_radiotherapy"}),
    V("lung.route.table2_other", "sigmoid", patient(), steps=TABLE2_OTHER_STEPS, must_not=NO_RECTAL_RT,
      must={"warnings": "periop_max_6_months"}, not_fired="lung.route.table2_rectal_advanced"),
    V("lung.route.table2_other", "upper-rectum-cT3N1", patient(rectum(12)), steps=TABLE2_OTHER_STEPS,
      must_not=NO_RECTAL_RT, not_fired="lung.rectal.tnt"),
    V("lung.route.table2_other", "low-rectum-cT2N0", patient(rectum(5, "T2", "N0")), steps=TABLE2_OTHER_STEPS,
      must_not=NO_RECTAL_RT, not_fired="lung.rectal.tnt lung.prognosis.primary_stage"),
    V("lung.route.metachronous_resectable", "after-adjuvant-capox", patient(META),
      steps=["resect_lung_metastases postoperative_systemic_therapy"], goal="ned",
      must_not={"strategies": "resect_primary preoperative_systemic_therapy rectal_neoadjuvant_radiotherapy",
                "workup": "colonoscopy_biopsy", "prognosis": "short_dfi"}),
    V("lung.route.isolated_resectable_nonsurgical", "metachronous-declines-surgery", patient(META, DECLINES),
      steps=["systemic_therapy lung_sbrt_or_ablation"], must={"local_treatment": "lung_rfa",
                                                              "warnings": "local_needs_control"},
      must_not={"strategies": "resect_lung_metastases postoperative_systemic_therapy"},
      not_fired="lung.route.metachronous_resectable"),
    V("lung.route.isolated_resectable_nonsurgical", "sync-colon-unfit-inner",
      patient(UNFIT, metastases=[lung(count=1, zone="inner")]), steps=["systemic_therapy lung_sbrt_or_ablation"],
      must={"local_treatment": "lung_sbrt"}, must_not={"strategies": "resect_lung_metastases resect_primary_and_lung",
                                                       "local_treatment": "lung_rfa"},
      not_fired="lung.route.table2_other"),
    V("lung.route.table3_primary_present", "lesion-at-hilum", patient(metastases=[POTENTIAL_LUNG]),
      steps=["conversion_therapy resect_primary resect_lung_metastases adjuvant_chemotherapy",
             "resect_primary conversion_therapy resect_lung_metastases adjuvant_chemotherapy"],
      must={"considerations": "potential_resectability_by_mdt preop_regimen_continued conversion_rate_low"},
      must_not={"local_treatment": "lung_sublobar_resection", "strategies": "resect_primary_and_lung"}),
    V("lung.route.table3_primary_resected", "metachronous-central", patient(META, metastases=[POTENTIAL_LUNG]),
      steps=["conversion_therapy resect_lung_metastases adjuvant_chemotherapy"], goal="conversion_then_ned",
      must_not={"strategies": "resect_primary"}),
    V("lung.route.isolated_unresectable", "metachronous-many-bilateral",
      patient(META, metastases=[UNRESECTABLE_LUNG]), steps=["palliative_systemic_therapy"],
      goal="prolong_survival", must={"considerations": "palliative_combination_or_mono"},
      must_not={"regimens": "REGORAFENIB"}, no_class="local_lung"),
    V("lung.route.table4_both_curable", "lung-and-liver", patient(metastases=[lung(), LIVER_OK]),
      steps=["preoperative_systemic_therapy staged_radical_local_treatment adjuvant_chemotherapy"], goal="ned",
      must={"warnings": "neoadjuvant_2_3_months periop_max_6_months",
            "considerations": "local_sequence_by_mdt hardest_lesion_first liver_first_if_equal "
                              "lung_sbrt_or_rfa_effective targeted_by_ras_braf_burden"},
      must_not={"strategies": "resect_primary_and_lung rectal_neoadjuvant_radiotherapy"},
      not_fired="lung.mdt.multiorgan_conversion"),
    V("lung.route.table4_both_curable", "lung-and-ovary-fig1-note2",
      patient(sex="female", metastases=[lung(), site("ovary", "resectable", largest_size={"value": 5, "unit": "cm"})]),
      steps=["preoperative_systemic_therapy staged_radical_local_treatment adjuvant_chemotherapy"],
      must_not={"workup": "liver_mri_contrast"}),
    V("lung.route.table4_lung_curable_other_not", "bilobar-liver", patient(metastases=[lung(), LIVER_BAD]),
      steps=["systemic_therapy reassess_after_systemic"], goal="prolong_survival",
      must={"considerations": "regimen_by_patient_factors"},
      must_not={"strategies": "resect_lung_metastases staged_radical_local_treatment resect_liver_metastases"}),
    V("lung.route.table4_lung_curable_other_not", "no-lung-resection-offered", patient(metastases=[lung(), LIVER_BAD]),
      must_not={"local_treatment": "lung_sublobar_resection lung_lobectomy_last_resort"},
      not_fired="lung.local.resection_principles"),
    V("lung.route.table4_other_curable_lung_not", "many-lung-one-liver",
      patient(metastases=[UNRESECTABLE_LUNG, site("liver", "resectable")]),
      steps=["systemic_therapy reassess_after_systemic resect_liver_metastases"],
      must={"considerations": "liver_resection_selected regimen_by_patient_factors"},
      must_not={"strategies": "resect_lung_metastases"}, no_class="local_lung"),
    V("lung.route.table4_neither_curable", "many-lung-bilobar-liver",
      patient(metastases=[UNRESECTABLE_LUNG, LIVER_BAD]),
      steps=["systemic_therapy reassess_after_systemic"], goal="prolong_survival",
      must_not={"strategies": "resect_liver_metastases selected_resection_all_sites"}, no_class="local_lung"),
    V("lung.route.table5_both_curable", "lung-liver-ovary",
      patient(sex="female", metastases=[lung(), site("liver", "resectable"), site("ovary", "resectable")]),
      steps=["systemic_therapy reassess_after_systemic selected_resection_all_sites"], goal="prolong_survival",
      must={"warnings": "extrapulmonary_resection_uncertain", "considerations": "systemic_first_multisite"},
      must_not={"strategies": "preoperative_systemic_therapy staged_radical_local_treatment"},
      # lung review T5-1/C10/C11: mainly systemic, not a cure-intent goal, no lung resection principles
      not_fired="lung.mdt.registry lung.route.table4_both_curable lung.goal.curable lung.local.resection_principles"),
    V("lung.route.table5_not_all_curable", "lung-liver-peritoneum",
      patient(metastases=[lung(), LIVER_BAD, site("peritoneum", "unresectable", count=DROP)]),
      steps=["systemic_therapy reassess_after_systemic"],
      must_not={"strategies": "selected_resection_all_sites resect_lung_metastases"}),
    V("lung.route.undetermined", "resectability-not-judged", patient(metastases=[lung(resectability=DROP)]),
      must={"referrals": "refer_mdt"}, scope="refer_mdt", must_not={"all": "resect_lung_metastases systemic_therapy"},
      possible="lung.route.table2_other lung.route.table3_primary_present lung.route.isolated_unresectable"),
    V("lung.route.neoadjuvant_progression", "progression-on-preop-folfox", patient(NEOADJ_PROGRESSION),
      steps=["mdt_discussion systemic_therapy reassess_after_systemic"],
      no_class="local_lung surgery_primary local_liver", not_fired="lung.route.undetermined lung.route.table2_other"),
    V("lung.route.neoadjuvant_progression", "lung-and-liver-progression",
      patient(NEOADJ_PROGRESSION, metastases=[lung(), LIVER_OK]),
      steps=["mdt_discussion systemic_therapy reassess_after_systemic"],
      no_class="local_lung surgery_primary local_liver", not_fired="lung.route.table4_both_curable"),
    V("lung.route.undetermined", "unfit-but-potentially-resectable",
      patient(UNFIT, metastases=[POTENTIAL_LUNG]), must={"referrals": "refer_mdt"}, scope="refer_mdt",
      not_fired="lung.route.table3_primary_present"),

    # --- local treatment of resectable lung metastases ------------------------------------------
    V("lung.local.resection_principles", "sigmoid", patient(),
      must={"local_treatment": "lung_sublobar_resection lung_lobectomy_last_resort", "warnings": "lobectomy_poorer",
            "considerations": "resection_principles"},
      must_not={"local_treatment": "lung_rfa lung_sbrt lung_local_by_mdt"}),
    V("lung.local.nodes_suspected", "enlarged-hilar-node", patient(metastases=[lung(hilar_mediastinal_nodes=True)]),
      must={"local_treatment": "lymph_node_sampling"}, must_not={"local_treatment": "no_routine_lymphadenectomy"}),
    V("lung.local.nodes_not_suspected", "sigmoid", patient(),
      must={"local_treatment": "no_routine_lymphadenectomy"}, must_not={"local_treatment": "lymph_node_sampling"}),
    V("lung.local.nonsurgical_outer", "copd-single-peripheral", patient(META, UNFIT),
      must={"local_treatment": "lung_rfa", "warnings": "local_needs_control"},
      must_not={"local_treatment": "lung_local_by_mdt"}),
    V("lung.local.nonsurgical_middle", "declines-single-middle",
      patient(DECLINES, metastases=[lung(count=1, zone="middle")]),
      must={"local_treatment": "lung_rfa lung_sbrt", "warnings": "local_needs_control"}),
    V("lung.local.nonsurgical_inner", "copd-single-inner",
      patient(META, UNFIT, metastases=[lung(count=1, zone="inner")]),
      must={"local_treatment": "lung_sbrt"}, must_not={"local_treatment": "lung_rfa"}),
    V("lung.local.nonsurgical_inner", "declines-perivascular",
      patient(DECLINES, metastases=[lung(count=1, zone="perivascular")]),
      must={"local_treatment": "lung_sbrt"}, must_not={"local_treatment": "lung_rfa"}),
    V("lung.local.nonsurgical_multiple", "declines-two-lesions", patient(DECLINES),
      must={"local_treatment": "lung_local_by_mdt", "considerations": "multiple_lung_local_by_mdt"},
      must_not={"local_treatment": "lung_rfa lung_sbrt"}),

    # --- rectal primary -------------------------------------------------------------------------
    V("lung.rectal.tnt", "mid-rectum-cT3N1", patient(rectum(7)),
      must={"considerations": "tnt_primary_control local_order_by_mdt_rectal"}),
    V("lung.route.table2_rectal_organ_preservation", "low-rectum-refuses-surgery",
      patient(rectum(4, "T3", "N2"), preferences={"wishes_organ_preservation": True}),
      steps=["total_neoadjuvant_therapy resect_lung_metastases watch_and_wait_primary"],
      must={"considerations": "tnt_primary_control"}, not_fired="lung.local.nonsurgical_multiple"),
    V("lung.rectal.no_preop_treatment", "sync-rectum-resected-upfront",
      patient(rectum(8), primary={"diagnosed": "2026-06-28", "status": "resected", "resected_on": "2026-07-20"},
              metastases=[lung(found="2026-07-05")],
              treatment_history={"procedures": [{"kind": "primary_resection", "date": "2026-07-20", "margin": "R0"}]}),
      must={"regimens": "FOLFOX CAPOX", "local_treatment": "postoperative_chemoradiotherapy_option"},
      must_not={"regimens": "FOLFIRI"}),
    V("lung.systemic.postop_oxaliplatin", "metachronous-rectal-no-pelvic-rt-years-later",
      patient(META, rectum(12, "T3", "N0")), must={"regimens": "FOLFOX CAPOX"},
      must_not={"local_treatment": "postoperative_chemoradiotherapy_option"},
      not_fired="lung.rectal.no_preop_treatment"),

    # --- systemic therapy -----------------------------------------------------------------------
    V("lung.systemic.postop_oxaliplatin", "after-adjuvant-capox", patient(META),
      must={"regimens": "FOLFOX CAPOX", "warnings": "periop_max_6_months"}, must_not={"regimens": "FOLFIRI CAPIRI"}),
    V("lung.systemic.continue_irinotecan", "preop-folfiri-response",
      patient(primary={"diagnosed": "2026-05-12"}, metastases=[lung(found="2026-05-20")],
              treatment_history={"courses": [
                  course("neoadjuvant", "FOLFIRI", "2026-06-01", "2026-08-24", "response")]}),
      must={"regimens": "FOLFIRI CAPIRI"}, must_not={"regimens": "FOLFOX CAPOX"},
      not_fired="lung.systemic.postop_oxaliplatin"),
    V("lung.systemic.early_oxaliplatin_failure", "relapse-8-months-after-capox",
      patient(META, primary={"diagnosed": "2024-12-20", "resected_on": "2025-01-20"},
              metastases=[lung(count=1, found="2026-04-20")],
              treatment_history={"courses": [course("adjuvant", "CAPOX", "2025-02-20", "2025-07-31", "completed")],
                                 "procedures": [{"kind": "primary_resection", "date": "2025-01-20"}]}),
      must={"regimens": "FOLFIRI", "warnings": "no_periop_oxaliplatin"}, must_not={"regimens": "FOLFOX CAPOX"},
      not_fired="lung.systemic.postop_oxaliplatin lung.rectal.no_preop_treatment"),
    V("lung.systemic.regorafenib", "after-folfox-and-folfiri", patient(LATER_LINE),
      must={"regimens": "REGORAFENIB", "tests": "rebiopsy_at_progression"}),
    V("lung.systemic.observation", "small-asymptomatic-nodules",
      patient(META, metastases=[merge(UNRESECTABLE_LUNG, {"count": 9, "largest_size": {"value": 7, "unit": "mm"}})]),
      steps=["observation"], must={"strategies": "palliative_systemic_therapy"}),

    # --- molecular tests ------------------------------------------------------------------------
    V("lung.tests.ras", "kras-pending", patient(biomarkers={"kras": DROP}),
      must={"tests": "ras_testing"}, must_not={"tests": "braf_testing mmr_msi_testing her2_ihc"}),
    V("lung.tests.ras", "nothing-tested-yet", patient(biomarkers=DROP),
      must={"tests": "ras_testing braf_testing mmr_msi_testing her2_ihc test_metastasis_tissue"}),
    V("lung.tests.braf", "braf-pending", patient(biomarkers={"braf": DROP}),
      must={"tests": "braf_testing"}, must_not={"tests": "ras_testing"}),
    V("lung.tests.mmr", "ihc-and-msi-discordant", patient(biomarkers={"mmr": "proficient", "msi": "msi_high"}),
      must={"tests": "mmr_msi_testing"}, must_not={"tests": "ras_testing"}),
    V("lung.tests.her2", "her2-not-done", patient(biomarkers={"her2": DROP}),
      must={"tests": "her2_ihc"}, must_not={"tests": "mmr_msi_testing"}),
    V("lung.tests.metastasis_tissue", "primary-tissue-only", patient(biomarkers={"specimen": "primary"}),
      must={"tests": "test_metastasis_tissue", "considerations": "liquid_biopsy_if_no_tissue"},
      must_not={"tests": "liquid_biopsy"}),
    V("lung.tests.rebiopsy_at_progression", "two-oxaliplatin-lines-no-regorafenib",
      patient(LATER_LINE, treatment_history={"courses": [
          course("adjuvant", "CAPOX", "2023-04-03", "2023-09-18", "completed"),
          course("palliative", "FOLFOX", "2024-11-20", "2025-09-01", "progression", line=1),
          course("palliative", "CAPOX", "2025-09-15", "2026-10-20", "progression", line=2)]}),
      must={"tests": "rebiopsy_at_progression"}, must_not={"regimens": "REGORAFENIB"},
      not_fired="lung.systemic.regorafenib"),

    # --- work-up --------------------------------------------------------------------------------
    V("lung.workup.primary_in_place", "sigmoid", patient(), must={"workup": "colonoscopy_biopsy"}),
    V("lung.workup.all", "sigmoid", patient(),
      must={"workup": "ct_abdomen_enhanced chest_ct_high_resolution lung_function_tests"},
      must_not={"workup": "bone_scan pet_ct chest_ct_enhanced liver_mri_contrast pelvic_mri_contrast",
                "tests": "test_metastasis_tissue ras_testing"}),
    V("lung.workup.nodes", "enlarged-hilar-node", patient(metastases=[lung(hilar_mediastinal_nodes=True)]),
      must={"workup": "chest_ct_enhanced"}),
    V("lung.workup.liver", "lung-and-liver", patient(metastases=[lung(), LIVER_OK]),
      must={"workup": "liver_mri_contrast"}),
    V("lung.workup.pelvic", "rectal-pelvic-implant",
      patient(rectum(6), metastases=[lung(), site("pelvic_implant", "potentially_resectable")]),
      must={"workup": "pelvic_mri_contrast"}),
    V("lung.workup.bone", "back-pain", patient(symptoms={"bone_pain": True}), must={"workup": "bone_scan"}),
    V("lung.workup.pet_indeterminate", "solitary-indeterminate-nodule",
      patient(metastases=[lung(count=1, largest_size={"value": 12, "unit": "mm"}, nature_indeterminate=True)]),
      must={"workup": "pet_ct ihc_differential", "considerations": "pet_ct_not_routine lung_met_risk_factors"},
      not_fired="lung.workup.pet_not_needed"),
    V("lung.workup.pet_not_needed", "sigmoid", patient(), must={"considerations": "pet_ct_not_routine"},
      must_not={"workup": "pet_ct ihc_differential"}),

    # --- prognosis ------------------------------------------------------------------------------
    V("lung.prognosis.multiple", "two-lesions", patient(), must={"prognosis": "multiple_lung_mets"},
      must_not={"prognosis": "many_or_bilateral_lung_mets lung_mets_over_3 older_age cea_high rectal_primary"}),
    V("lung.prognosis.many_or_bilateral", "bilateral", patient(metastases=[lung(bilateral=True)]),
      must={"prognosis": "many_or_bilateral_lung_mets"}, must_not={"prognosis": "lung_mets_over_3"}),
    V("lung.prognosis.nodes", "enlarged-hilar-node", patient(metastases=[lung(hilar_mediastinal_nodes=True)]),
      must={"prognosis": "thoracic_nodes"}),
    V("lung.prognosis.cea", "cea-18", patient(cea_ng_ml=18.4), must={"prognosis": "cea_high"}),
    V("lung.prognosis.size", "sigmoid", patient(), must={"considerations": "lesion_size_information"},
      must_not={"prognosis": "large_lesion"}),
    V("lung.prognosis.dfi_synchronous", "synchronous", patient(), must={"prognosis": "short_dfi"},
      not_fired="lung.prognosis.dfi"),
    V("lung.prognosis.dfi", "metachronous-14-months",
      patient(META, metastases=[lung(count=1, found="2025-05-20")]), must={"prognosis": "short_dfi"}),
    V("lung.prognosis.age", "age-74", patient(age=74), must={"prognosis": "older_age"}),
    V("lung.prognosis.primary_stage", "cT3N1", patient(), must={"prognosis": "advanced_primary"}),
    V("lung.prognosis.rectal", "mid-rectum", patient(rectum(6)), must={"prognosis": "rectal_primary"}),
    V("lung.prognosis.margin", "wedge-r1",
      patient(META, treatment_history={"procedures": [{"kind": "primary_resection", "date": "2024-03-12"},
                                                      {"kind": "lung_sublobar_resection", "date": "2026-05-18",
                                                       "margin": "R1"}]}),
      must={"prognosis": "incomplete_lung_resection"}, must_not={"prognosis": "lobectomy_done"}),
    V("lung.prognosis.lobectomy", "deep-lesion-lobectomy",
      patient(META, treatment_history={"procedures": [{"kind": "lung_lobectomy", "date": "2026-05-18",
                                                       "margin": "R0"}]}),
      must={"prognosis": "lobectomy_done"}, must_not={"prognosis": "incomplete_lung_resection"}),
    V("lung.prognosis.liver_over_5", "nine-liver-mets", patient(metastases=[lung(), LIVER_BAD]),
      must={"prognosis": "liver_mets_over_5"}),
    V("lung.prognosis.lung_over_3", "five-lesions", patient(metastases=[lung(count=5, zone=DROP)]),
      must={"prognosis": "lung_mets_over_3 many_or_bilateral_lung_mets multiple_lung_mets"}),
    V("lung.prognosis.neoadjuvant_progression", "progression-on-preop-folfox", patient(NEOADJ_PROGRESSION),
      must={"prognosis": "neoadjuvant_progression", "warnings": "neoadjuvant_progression"},
      must_not={"strategies": "resect_primary resect_lung_metastases", "local_treatment": "lung_sublobar_resection"},
      no_class="local_lung surgery_primary"),
    V("lung.prognosis.lymphangitic", "diffuse-lymphangitic", patient(metastases=LYMPHANGITIC),
      must={"prognosis": "lymphangitic"}),

    # --- follow-up ------------------------------------------------------------------------------
    V("lung.followup.chest_ct", "ned-after-wedge",
      patient(META, ned=True, ned_date="2026-05-18",
              treatment_history={"procedures": [{"kind": "lung_sublobar_resection", "date": "2026-05-18",
                                                 "margin": "R0"}]}),
      must={"followup": "chest_ct"}),
    V("lung.followup.chest_ct", "ned-no-re-resection",
      patient(META, ned=True, ned_date="2026-05-18",
              treatment_history={"procedures": [{"kind": "lung_sublobar_resection", "date": "2026-05-18",
                                                 "margin": "R0"}]}),
      must={"followup": "chest_ct"}, must_not={"strategies": "resect_lung_metastases"}, goal="maintain_ned",
      steps=None, not_fired="lung.route.metachronous_resectable lung.local.resection_principles"),
    V("lung.after_ned.surveillance", "ned-after-wedge",
      patient(META, ned=True, ned_date="2026-05-18",
              treatment_history={"procedures": [{"kind": "lung_sublobar_resection", "date": "2026-05-18",
                                                 "margin": "R0"}]}),
      steps=["surveillance"], goal="maintain_ned", no_class="local_lung surgery_primary",
      not_fired="lung.goal.curable lung.route.undetermined"),

    # --- rectal re-irradiation and specimen-specific tests -------------------------------------------
    V("lung.rectal.prior_pelvic_radiotherapy", "recurrence-after-chemoradiation",
      patient(META, rectum(5), primary={"status": "local_recurrence", "resectability": "resectable"},
              metastases=[lung(found="2026-08-03")],
              treatment_history={"procedures": [{"kind": "pelvic_radiotherapy", "date": "2024-01-10"},
                                                {"kind": "primary_resection", "date": "2024-03-12"}]}),
      must={"warnings": "reirradiation_caution", "strategies": "rectal_neoadjuvant_radiotherapy"}),
    # lung review PA8: an option where metastatic tissue cannot be had, not a test for everyone
    V("lung.tests.liquid_biopsy", "primary-tissue-only", patient(biomarkers={"specimen": "primary"}),
      must={"considerations": "liquid_biopsy_if_no_tissue"},
      must_not={"tests": "liquid_biopsy", "warnings": "liquid_biopsy_unvalidated"}),
    V("lung.tests.liquid_biopsy_only", "ctdna-results", patient(biomarkers={"specimen": "liquid_biopsy"}),
      must={"tests": "test_metastasis_tissue", "warnings": "liquid_biopsy_unvalidated"},
      must_not={"tests": "liquid_biopsy"}, not_fired="lung.tests.liquid_biopsy"),

    # --- MDT ------------------------------------------------------------------------------------
    V("lung.mdt.comprehensive", "sigmoid", patient(), must={"considerations": "mdt_comprehensive"}),
    V("lung.mdt.registry", "oligometastatic", patient(), must={"considerations": "registry_inclusion"}),
    V("lung.prognosis.lymphangitic", "thirty-nodules-not-oligometastatic", patient(metastases=LYMPHANGITIC),
      must_not={"considerations": "registry_inclusion"}, not_fired="lung.mdt.registry"),
    V("lung.mdt.multiorgan_conversion", "bilobar-liver", patient(metastases=[lung(), LIVER_BAD]),
      must={"warnings": "multiorgan_conversion_rare", "considerations": "reroute_if_converted"}),
    V("lung.mdt.local_recurrence", "anastomotic-recurrence",
      patient(META, primary={"status": "local_recurrence", "resectability": "resectable"},
              metastases=[lung(found="2026-08-03")]),
      must={"considerations": "local_recurrence_as_primary", "strategies": "resect_primary resect_lung_metastases"},
      not_fired="lung.route.metachronous_resectable"),
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

def test_followup_dates_run_from_ned_date() -> None:
    a = mcrc.assess(patient(META, ned=True, ned_date="2026-05-18"))
    by_phase = {(f.every_months, f.from_month, f.until_month): f.dates for f in a.followup if f.code == "chest_ct"}
    six_monthly = [dt.date(y, m, 18) for y, m in ((2026, 11), (2027, 5), (2027, 11), (2028, 5), (2028, 11), (2029, 5))]
    assert by_phase == {(6, 0, 36): six_monthly, (12, 36, 60): [dt.date(2030, 5, 18), dt.date(2031, 5, 18)]}


def test_no_followup_without_ned() -> None:
    assert "lung.followup.chest_ct" not in mcrc.assess(patient()).fired_rows()


def test_table4_neoadjuvant_limited_to_three_months() -> None:
    a = mcrc.assess(patient(metastases=[lung(), LIVER_OK]))
    (strategy,) = [s for s in a.strategies if s.row == "lung.route.table4_both_curable"]
    assert strategy.steps[0].code == "preoperative_systemic_therapy"
    assert strategy.steps[0].max_months == 3


def test_discordant_mmr_and_msi_leave_status_unknown() -> None:
    a = mcrc.assess(patient(biomarkers={"mmr": "proficient", "msi": "msi_high"}))
    assert "mmr_status" not in a.facts
    assert any("disagree" in note for note in a.derivation_notes)


def test_early_oxaliplatin_failure_removes_oxaliplatin_everywhere() -> None:
    (v,) = [v for v in VIGNETTES if v.row == "lung.systemic.early_oxaliplatin_failure"]
    a = mcrc.assess(v.patient)
    assert a.facts["adjuvant_oxaliplatin_failure_12m"] is True
    assert not any("oxaliplatin" in r.drug_classes for r in a.regimens)
