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
]


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)
