"""Issue 17: the lung review (`shared/reviews/knowledge-audit-lung-2026-12-07.md`), finding by finding. Each
vignette names the review's item (OV7, MC2, T5-1...) and, where the review ran one, its probe patient (A-P).
Histories are schema 2.
"""

from __future__ import annotations

import pytest

from tests.patients import META, lung, patient, rectum, site
from tests.vignettes import V, check, param

ANY = None

# the review's probe P: examples/03-like metachronous lung metastasis after cytoreduction with HIPEC
CRS_BEFORE_LUNG = {"treatment_history": {"procedures": [
    {"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"},
    {"kind": "cytoreduction_hipec", "date": "2025-01-20", "margin": "R0"}]}}
# palliative FOLFOX-bev for liver metastases (since resected) before the lung lesion appeared
SYSTEMIC_BEFORE_LUNG = {"treatment_history": {"courses": [
    {"intent": "palliative", "regimen": "FOLFOX_BEV", "started": "2025-02-03", "ended": "2025-07-07",
     "stop_reason": "completed", "best_response": "partial"}]}}
# probe G: low rectal cT3N1, lung metastasis found during neoadjuvant CAPOX of the primary
NEOADJUVANT_PRIMARY = {"treatment_history": {"courses": [
    {"intent": "neoadjuvant", "regimen": "CAPOX", "started": "2026-03-16", "ended": "2026-06-22",
     "stop_reason": "progression", "progression_date": "2026-06-20"}]}}

VIGNETTES: list[V] = [
    # OV7 / probe P: any earlier distant metastasis, however treated, makes the lung metastases non-initial
    V("lung.goal.non_initial", "probe-p-lung-after-crs-hipec", patient(META, CRS_BEFORE_LUNG),
      goal="mdt_to_decide", must={"referrals": "mdt_non_initial"},
      not_fired="lung.goal.curable lung.route.table2_other lung.route.metachronous_resectable", scope=ANY),
    V("lung.route.non_initial", "lung-after-palliative-folfox-for-liver", patient(META, SYSTEMIC_BEFORE_LUNG),
      goal="mdt_to_decide", must={"referrals": "mdt_non_initial"}, not_fired="lung.goal.curable", scope=ANY),
    # T5-1, C10, C11: lung with two or more other sites, all resectable: mainly systemic, not cure intent
    V("lung.goal.multisite", "lung-liver-ovary-all-resectable",
      patient(sex="female", metastases=[lung(), site("liver", "resectable"), site("ovary", "resectable")]),
      goal="prolong_survival", steps=None, not_fired="lung.goal.curable lung.local.resection_principles"),
    # MC2 / probe G: lung metastasis found during neoadjuvant therapy of the primary is managed as synchronous
    # (Table 2), not as progression on preoperative therapy of metastases
    V("lung.route.table2_rectal_advanced", "probe-g-lung-met-during-neoadjuvant-capox",
      patient(rectum(6), NEOADJUVANT_PRIMARY, primary={"diagnosed": "2026-03-01"},
              metastases=[lung(found="2026-06-20")]),
      goal="ned", not_fired="lung.route.neoadjuvant_progression"),
    # UR4 / probe B: asymptomatic isolated unresectable lesions of 12 mm may be followed without treatment too
    V("lung.systemic.observation", "probe-b-asymptomatic-12-mm",
      patient(META, metastases=[lung(count=6, bilateral=True, largest_size={"value": 12, "unit": "mm"},
                                     resectability="unresectable", found="2026-04-14")]),
      goal="prolong_survival", steps=["observation"]),
    # PO5 / probe H: low rectal primary resected after short-course radiotherapy (no chemotherapy): pelvic
    # radiotherapy was preoperative treatment, so no postoperative chemoradiotherapy option
    V("lung.route.metachronous_resectable", "probe-h-resected-after-short-course-rt",
      patient(rectum(5), primary={"status": "resected", "resected_on": "2026-10-05"},
              treatment_history={"radiotherapy": [{"kind": "short_course", "site": "pelvis", "started": "2026-09-14",
                                                   "ended": "2026-09-18"}]}),
      must_not={"local_treatment": "postoperative_chemoradiotherapy_option"},
      not_fired="lung.rectal.no_preop_treatment", scope=ANY),
    # UR7 / probe L: first progression on FOLFOX: re-biopsy is for later lines
    V("lung.route.isolated_unresectable", "probe-l-first-line-progression",
      patient(META, metastases=[lung(count=9, bilateral=True, resectability="unresectable", found="2026-04-14",
                                     symptomatic=True)],
              treatment_history={"courses": [{"intent": "palliative", "regimen": "FOLFOX", "started": "2026-05-04",
                                              "ended": "2026-10-19", "stop_reason": "progression",
                                              "progression_date": "2026-10-12"}]}),
      must_not={"tests": "rebiopsy_at_progression"}, not_fired="lung.tests.rebiopsy_at_progression", scope=ANY),
    # C12 / probe M: NED after resection: surveillance, not the molecular tests and work-up of a new patient
    V("lung.followup.chest_ct", "probe-m-ned-after-sublobar-resection",
      patient(META, ned=True, ned_date="2026-06-01",
              treatment_history={"procedures": [{"kind": "lung_sublobar_resection", "date": "2026-05-20",
                                                 "margin": "R0"}]}),
      must_not={"tests": "liquid_biopsy test_metastasis_tissue", "workup": "lung_function_tests ct_abdomen_enhanced"},
      not_fired="lung.workup.all", scope=ANY),
    # PO2: the benefit of therapy before surgery is uncertain, and the answer says so beside the options
    V("lung.route.table2_other", "po2-preoperative-benefit-unclear", patient(),
      must={"considerations": "preop_benefit_unclear", "strategies": "preoperative_systemic_therapy"}),
    # NS2 / probe A: surgery of the lung declined, primary in place: the primary is treated radically too
    V("lung.route.isolated_resectable_nonsurgical_primary_present", "probe-a-declines-lung-surgery",
      patient(metastases=[lung(count=1, zone="outer")], preferences={"declines_surgery": True}),
      goal="ned", steps=["systemic_therapy radical_treatment_primary lung_sbrt_or_ablation"],
      must={"local_treatment": "lung_rfa", "warnings": "local_needs_control"}),
    # GG7 / probe C: NED out of reach, primary in place: the MDT revisits local treatment of the primary
    V("lung.mdt.primary_when_incurable", "probe-c-twelve-unresectable-lung-primary-in-place",
      patient(metastases=[lung(count=12, bilateral=True, resectability="unresectable")]),
      goal="prolong_survival", must={"considerations": "primary_local_when_controlled"}, scope=ANY),
    V("lung.route.isolated_unresectable", "primary-resected-no-primary-note",
      patient(META, metastases=[lung(count=12, bilateral=True, resectability="unresectable", found="2026-04-14")]),
      must_not={"considerations": "primary_local_when_controlled"}, not_fired="lung.mdt.primary_when_incurable",
      scope=ANY),
    # UR1 / GG3: palliative local treatment of lung lesions is named beside palliative systemic therapy
    V("lung.palliative.isolated_unresectable", "isolated-unresectable",
      patient(META, metastases=[lung(count=12, bilateral=True, resectability="unresectable", found="2026-04-14")]),
      must={"local_treatment": "lung_palliative_local", "strategies": "palliative_systemic_therapy"},
      must_not={"local_treatment": "lung_sbrt lung_rfa lung_sublobar_resection"}, scope=ANY),
    V("lung.palliative.symptomatic", "symptomatic-lung-with-unresectable-liver",
      patient(META, metastases=[lung(count=12, bilateral=True, resectability="unresectable", found="2026-04-14",
                                     symptomatic=True), site("liver", "unresectable", count=9, found="2026-04-14")]),
      must={"local_treatment": "lung_palliative_local", "considerations": "lung_burden_may_lead"}, scope=ANY),
    V("lung.route.lymphangitic", "lymphangitic-no-palliative-local-treatment",
      patient(META, metastases=[lung(count=12, bilateral=True, resectability="unresectable", found="2026-04-14",
                                     symptomatic=True, lymphangitic=True)]),
      must_not={"local_treatment": "lung_palliative_local"}, no_class="local_lung local_palliative",
      not_fired="lung.palliative.symptomatic lung.palliative.isolated_unresectable", scope=ANY),
    # EX2: a symptomatic lung burden beside another site may lead
    V("lung.mdt.symptomatic_lung_burden", "symptomatic-lung-and-liver",
      patient(metastases=[lung(symptomatic=True), site("liver", "resectable")]),
      must={"considerations": "lung_burden_may_lead"}, scope=ANY),
    V("lung.route.table2_other", "isolated-symptomatic-no-burden-note",
      patient(metastases=[lung(symptomatic=True)]), must_not={"considerations": "lung_burden_may_lead"},
      not_fired="lung.mdt.symptomatic_lung_burden", scope=ANY),
    # C13, T4-fn1f / probe K: lung and liver both resectable, patient unfit for surgery: no staged surgery;
    # SBRT or ablation strongly recommended
    V("lung.route.table4_both_curable_nonsurgical", "probe-k-unfit",
      patient(metastases=[lung(count=1, zone="middle"), site("liver", "resectable")],
              fitness={"fit_for_surgery": False}),
      steps=["systemic_therapy lung_sbrt_or_ablation mdt_discussion"],
      must={"considerations": "lung_sbrt_or_rfa_effective", "local_treatment": "lung_rfa lung_sbrt"},
      must_not={"strategies": "staged_radical_local_treatment", "local_treatment": "lung_sublobar_resection"},
      not_fired="lung.route.table4_both_curable"),
    # T4-3 / probe D: lung not curable, liver curable: elective liver resection or systemic therapy alone
    V("lung.route.table4_other_curable_lung_not", "probe-d-lung-unresectable-liver-resectable",
      patient(metastases=[lung(count=14, bilateral=True, resectability="unresectable"), site("liver", "resectable")]),
      steps=["systemic_therapy reassess_after_systemic resect_liver_metastases",
             "systemic_therapy reassess_after_systemic"]),
    # probe N: lung and peritoneum (one non-liver site): the debated benefit of resecting it is shown
    V("lung.mdt.non_liver_site", "probe-n-lung-and-peritoneum",
      patient(metastases=[lung(), site("peritoneum", "resectable", pci=4)]),
      must={"warnings": "extrapulmonary_resection_uncertain"}, scope=ANY),
    V("lung.route.table4_both_curable", "lung-and-liver-no-non-liver-warning",
      patient(metastases=[lung(), site("liver", "resectable")]),
      must_not={"warnings": "extrapulmonary_resection_uncertain"}, not_fired="lung.mdt.non_liver_site", scope=ANY),
    # C15: lung and two or more other sites: the liver source's timing add-ons stay silent (Table 5 stance)
    V("lung.goal.multisite", "no-liver-timing-add-ons",
      patient(sex="female", metastases=[lung(), site("liver", "resectable"), site("ovary", "resectable")]),
      must_not={"considerations": "three_timing_approaches simultaneous_benefits"},
      not_fired="liver.primary.approaches liver.primary.simultaneous", steps=None),
    # C1 / probe F: liver-only patient with a bleeding primary: emergency first, not cited to the lung consensus
    V("general.emergency.urgent", "probe-f-liver-only-bleeding",
      patient(primary={"emergency": "bleeding"}, metastases=[site("liver", "resectable")]),
      must={"first_steps": "emergency_resection emergency_colostomy", "warnings": "emergency_first"},
      not_fired="lung.emergency.urgent", scope=ANY),
    V("general.emergency.stent_allowed", "liver-only-obstructing-sigmoid",
      patient(primary={"emergency": "obstruction"}, metastases=[site("liver", "resectable")]),
      must={"first_steps": "emergency_stent emergency_resection"}, not_fired="lung.emergency.stent_allowed",
      scope=ANY),
    V("general.emergency.impending", "liver-only-impending-obstruction-low-rectum",
      patient(rectum(5), primary={"emergency": "impending_obstruction"}, metastases=[site("liver", "resectable")]),
      must={"first_steps": "mdt_discussion", "warnings": "impending_obstruction"},
      must_not={"first_steps": "emergency_stent"}, scope=ANY),
    V("lung.emergency.urgent", "lung-patient-bleeding",
      patient(primary={"emergency": "bleeding"}), must={"first_steps": "emergency_resection"},
      not_fired="general.emergency.urgent", scope=ANY),
]



def _preop(regimen: str) -> dict:
    """Probe I's history with another irinotecan regimen before surgery (three months, partial response)."""
    return {"treatment_history": {"courses": [
        {"intent": "adjuvant", "regimen": "CAPOX", "started": "2024-04-15", "ended": "2024-09-30",
         "stop_reason": "completed"},
        {"intent": "perioperative", "regimen": regimen, "started": "2026-01-12", "ended": "2026-04-06",
         "stop_reason": "planned_surgery", "best_response": "partial"}]}}


# MC7: each irinotecan regimen that worked before surgery is the one continued after it, and no other doublet
_RECORDED = ["FOLFIRI", "CAPIRI", "IRIS", "FOLFIRI_BEV", "FOLFIRI_CETUXIMAB", "FOLFIRI_PANITUMUMAB", "FOLFOXIRI",
             "FOLFIRINOX", "FOLFOXIRI_BEV", "FOLFOXIRI_CETUXIMAB", "FOLFOXIRI_PANITUMUMAB"]
VIGNETTES += [
    V(f"lung.systemic.continue_irinotecan.{code.lower()}", f"recorded-{code.lower()}",
      patient(META, _preop(code), metastases=[lung(count=1, found="2025-12-20")]),
      must={"regimens": code}, must_not={"regimens": " ".join(c for c in ("FOLFIRI", "CAPIRI") if c != code)},
      scope=ANY)
    for code in _RECORDED
] + [
    V("lung.systemic.continue_irinotecan.unlisted", "recorded-folfiri-aflibercept",
      patient(META, _preop("FOLFIRI_AFLIBERCEPT"), metastases=[lung(count=1, found="2025-12-20")]),
      must={"considerations": "continue_preop_regimen"}, must_not={"regimens": "FOLFIRI CAPIRI FOLFIRI_AFLIBERCEPT"},
      scope=ANY),
    # the recorded anti-EGFR regimen is not continued once ctDNA shows a resistance mutation
    V("lung.route.metachronous_resectable", "recorded-folfiri-cetuximab-ctdna-mutant",
      patient(META, _preop("FOLFIRI_CETUXIMAB"), metastases=[lung(count=1, found="2025-12-20")],
              biomarkers={"ctdna": {"ras": "mutant", "date": "2026-04-20"}}),
      must_not={"regimens": "FOLFIRI_CETUXIMAB"}, not_fired="lung.systemic.continue_irinotecan.folfiri_cetuximab",
      scope=ANY),
]


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)


# MC7, MC8 / probe I: colon resected in 2024, lung metastasis in 2026, three months of FOLFIRI-bevacizumab before
# surgery with a response: the regimen recorded is the one continued, and only what is left of the 6 months follows
PREOP_FOLFIRI_BEV = {"treatment_history": {"courses": [
    {"intent": "adjuvant", "regimen": "CAPOX", "started": "2024-04-15", "ended": "2024-09-30",
     "stop_reason": "completed"},
    {"intent": "perioperative", "regimen": "FOLFIRI_BEV", "started": "2026-05-04", "ended": "2026-08-03",
     "stop_reason": "planned_surgery", "best_response": "partial"}]}}


def _assess(p: dict):
    import mcrc

    return mcrc.assess(mcrc.parse_patient(p))


def test_probe_i_recorded_regimen_and_remaining_months():
    a = _assess(patient(META, PREOP_FOLFIRI_BEV))
    assert [r.code for r in a.regimens if "lung.systemic.continue_irinotecan.folfiri_bev" in r.rows] == ["FOLFIRI_BEV"]
    assert not {"FOLFIRI", "CAPIRI"} & {r.code for r in a.regimens}  # not a generic doublet without the biologic
    (s,) = [s for s in a.strategies if s.row == "lung.route.metachronous_resectable"]
    (post,) = [st for st in s.steps if st.code == "postoperative_systemic_therapy"]
    assert post.max_months == 3 and "less the 3 given before surgery" in post.note
    assert s.timeline[-1].end_month == 3


def test_months_left_unknown_when_the_course_is_undated():
    p = patient(META, PREOP_FOLFIRI_BEV)
    del p["treatment_history"]["courses"][1]["started"]
    del p["treatment_history"]["courses"][1]["ended"]
    a = _assess(p)
    (s,) = [s for s in a.strategies if s.row == "lung.route.metachronous_resectable"]
    (post,) = [st for st in s.steps if st.code == "postoperative_systemic_therapy"]
    assert post.max_months == 6 and "not recorded" in post.note  # never a guessed subtraction


def test_no_preoperative_therapy_keeps_the_whole_six_months():
    a = _assess(patient(META))
    (s,) = [s for s in a.strategies if s.row == "lung.route.metachronous_resectable"]
    (post,) = [st for st in s.steps if st.code == "postoperative_systemic_therapy"]
    assert post.max_months == 6 and "none given before surgery" in post.note


def test_unlisted_irinotecan_regimen_is_named_as_the_recorded_one():
    p = patient(META, PREOP_FOLFIRI_BEV)
    p["treatment_history"]["courses"][1]["regimen"] = "FOLFIRI_AFLIBERCEPT"
    a = _assess(p)
    assert "continue_preop_regimen" in {c.code for c in a.considerations}
    assert not {"FOLFIRI", "CAPIRI", "FOLFIRI_BEV"} & {r.code for r in a.regimens}
