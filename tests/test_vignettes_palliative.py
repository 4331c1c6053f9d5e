"""Clinical vignettes for the palliative regimen table (cvir-2019-palliative, Table 3).

Every patient here has incurable metastatic colorectal cancer (at least one site judged unresectable)
and needs palliative systemic therapy; the vignettes walk the line-of-therapy logic (first line;
second line after oxaliplatin or after irinotecan; later lines after both) across RAS status,
sidedness, MMR status, region, age, fitness and tumour burden, and the liver-directed options.

Most patients have liver-only disease, the population the source was written for. Which route frames
a liver-only patient (and so the Assessment's scope) is decided by the liver source's tables, not by
this one, which only adds regimens, warnings, considerations, tests and local options: those
vignettes use `scope=ANY`. Patients with lung metastases are framed by the lung consensus and keep
an explicit scope.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

import mcrc
from mcrc.engine import assess_facts
from mcrc.engine.safety import check_safety
from mcrc.errors import SafetyViolation
from mcrc.facts import Facts
from mcrc.knowledge import load_knowledge_dir
from tests.kbcopy import kb_copy
from tests.patients import DROP, course, lung, merge, patient, site
from tests.vignettes import KB, V, check, param, row_conjuncts

ANY = "any"  # scope framed by another source's route table; not this table's to decide


# ------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------

LIVER_UNRES = site("liver", "unresectable", count=9, largest_size={"value": 45, "unit": "mm"}, bilateral=True)
LUNG_UNRES = lung(count=14, bilateral=True, largest_size={"value": 22, "unit": "mm"}, zone=DROP,
                  resectability="unresectable")
LIVER_ONLY = {"metastases": [LIVER_UNRES]}
LUNG_ONLY = {"metastases": [LUNG_UNRES]}
LUNG_AND_LIVER = {"metastases": [LUNG_UNRES, LIVER_UNRES]}

RIGHT = {"primary": {"location": "ascending_colon"}}
TRANSVERSE = {"primary": {"location": "transverse_colon"}}
KRAS_MUT = {"biomarkers": {"kras": "mutant"}}
NRAS_MUT = {"biomarkers": {"nras": "mutant"}}
BRAF_V600E = {"biomarkers": {"braf": "v600e"}}
DMMR = {"biomarkers": {"mmr": "deficient", "msi": "msi_high"}}
TRIPLET_FIT = {"age": 54, "ecog": 0, "tumour_burden": "high",
               "fitness": {"fit_for_surgery": True, "fit_for_intensive_therapy": True}}
LATER_FIT = {"ecog": 1, "fitness": {"fit_for_surgery": False, "adequate_organ_function": True}}

ANTI_EGFR = ("FOLFOX_CETUXIMAB FOLFIRI_CETUXIMAB FOLFOX_PANITUMUMAB FOLFIRI_PANITUMUMAB FOLFOXIRI_CETUXIMAB "
             "FOLFOXIRI_PANITUMUMAB")
OXALIPLATIN = "FOLFOX CAPOX FOLFOX_BEV CAPOX_BEV FOLFOX_CETUXIMAB FOLFOX_PANITUMUMAB SOX FOLFOXIRI FOLFIRINOX"
LATER_AGENTS = "REGORAFENIB TRIFLURIDINE_TIPIRACIL"
CHECKPOINT = "PEMBROLIZUMAB NIVOLUMAB NIVOLUMAB_IPILIMUMAB"
FIRST_LINE_ROWS = ("palliative.systemic.first_line_doublet palliative.systemic.first_line_cetuximab "
                   "palliative.systemic.first_line_panitumumab palliative.liver.hai_first_line")


def pd(regimen: str, line: int, started: str, ended: str) -> dict:
    """A palliative course that ended in radiological progression."""
    return course("palliative", regimen, started, ended, "progression", line=line, progression_date=ended)


FOLFOX_BEV_1 = pd("FOLFOX_BEV", 1, "2025-02-03", "2025-10-06")
FOLFIRI_1 = pd("FOLFIRI", 1, "2025-02-03", "2025-10-06")
FOLFIRI_BEV_2 = pd("FOLFIRI_BEV", 2, "2025-10-20", "2026-10-12")
FOLFOX_2 = pd("FOLFOX", 2, "2025-10-20", "2026-10-12")


def history(*courses: dict, mets: list[dict] | None = None, found: str = "2025-01-15") -> dict:
    """Sigmoid cancer resected in March 2024; metastases found in January 2025; then these courses."""
    return {
        "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-03-12"},
        "metastases": [merge(m, {"found": found}) for m in (mets or [LIVER_UNRES])],
        "treatment_history": {"courses": list(courses),
                              "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]},
    }


AFTER_OX = history(FOLFOX_BEV_1)
AFTER_IRI = history(FOLFIRI_1)
AFTER_BOTH = history(FOLFOX_BEV_1, FOLFIRI_BEV_2)
# Relapse in the liver 7 months after six months of adjuvant CAPOX: oxaliplatin failed, no palliative line yet.
EARLY_ADJUVANT_FAILURE = {
    "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-03-12"},
    "metastases": [merge(LIVER_UNRES, {"found": "2025-04-28"})],
    "treatment_history": {"courses": [course("adjuvant", "CAPOX", "2024-04-15", "2024-09-30", "completed")],
                          "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]},
}


# ------------------------------------------------------------------------------------------------
# Vignettes
# ------------------------------------------------------------------------------------------------

VIGNETTES: list[V] = [
    # --- line of therapy --------------------------------------------------------------------------
    V("palliative.line.first", "untreated-sigmoid-bilobar-liver", patient(LIVER_ONLY),
      must={"considerations": "palliative_line_first", "regimens": "FOLFOX FOLFIRI"},
      must_not={"regimens": f"{LATER_AGENTS} FOLFIRI_AFLIBERCEPT FOLFIRI_RAMUCIRUMAB",
                "warnings": "checkpoint_not_for_pmmr"},
      not_fired="palliative.line.after_oxaliplatin palliative.systemic.after_oxaliplatin "
                "palliative.systemic.reuse_earlier_regimen palliative.liver.hai_after_systemic", scope=ANY),
    V("palliative.line.first", "relapse-19-months-after-adjuvant-capox",
      patient(EARLY_ADJUVANT_FAILURE, metastases=[merge(LIVER_UNRES, {"found": "2026-05-20"})]),
      must={"considerations": "palliative_line_first", "regimens": "FOLFOX FOLFOX_BEV FOLFIRI"},
      not_fired="palliative.systemic.after_oxaliplatin", scope=ANY),
    V("palliative.line.after_oxaliplatin", "progressed-on-first-line-folfox-bev", patient(AFTER_OX),
      must={"considerations": "palliative_line_after_oxaliplatin"},
      not_fired=f"{FIRST_LINE_ROWS} palliative.line.first", scope=ANY),
    V("palliative.line.after_oxaliplatin", "liver-relapse-7-months-after-adjuvant-capox",
      patient(EARLY_ADJUVANT_FAILURE),
      must={"considerations": "palliative_line_after_oxaliplatin", "regimens": "FOLFIRI FOLFIRI_AFLIBERCEPT"},
      must_not={"regimens": OXALIPLATIN}, not_fired=FIRST_LINE_ROWS, scope=ANY),
    V("palliative.line.after_irinotecan", "progressed-on-first-line-folfiri", patient(AFTER_IRI),
      must={"considerations": "palliative_line_after_irinotecan"},
      not_fired=f"{FIRST_LINE_ROWS} palliative.systemic.after_oxaliplatin", scope=ANY),
    V("palliative.line.after_both", "folfox-then-folfiri-failed", patient(AFTER_BOTH, LATER_FIT),
      must={"considerations": "palliative_line_after_both"},
      not_fired=f"{FIRST_LINE_ROWS} palliative.systemic.after_oxaliplatin palliative.systemic.after_irinotecan",
      scope=ANY),
    V("palliative.line.no_failure_yet", "folfox-bev-still-responding",
      patient(history({"intent": "palliative", "regimen": "FOLFOX_BEV", "started": "2025-02-03",
                       "best_response": "partial", "stop_reason": "ongoing"})),
      must={"considerations": "palliative_line_no_failure"},
      must_not={"regimens": f"{LATER_AGENTS} FOLFIRI_AFLIBERCEPT"},
      not_fired=f"{FIRST_LINE_ROWS} palliative.systemic.after_oxaliplatin", scope=ANY),
    V("palliative.line.undetermined", "referral-without-treatment-history",
      patient(LIVER_ONLY, treatment_history=DROP),
      must={"considerations": "palliative_line_history_needed"},
      must_not={"regimens": f"FOLFOX FOLFIRI {LATER_AGENTS}"},
      possible="palliative.line.first palliative.systemic.first_line_doublet palliative.systemic.after_oxaliplatin "
               "palliative.systemic.after_both_later_agents", scope=ANY),
    V("palliative.line.undetermined", "current-line-outcome-not-recorded",
      patient(history(course("palliative", "FOLFOX", "2025-02-03", None, None, line=1))),
      must={"considerations": "palliative_line_history_needed"}, must_not={"regimens": "FOLFIRI"},
      possible="palliative.systemic.after_oxaliplatin", scope=ANY),

    # --- first line -------------------------------------------------------------------------------
    V("palliative.systemic.first_line_doublet", "kras-mutant-sigmoid", patient(LIVER_ONLY, KRAS_MUT),
      must={"regimens": "FOLFOX FOLFIRI FOLFOX_BEV FOLFIRI_BEV",
            "warnings": "anti_egfr_with_anti_vegf_not_recommended anti_egfr_not_for_ras_mutant"},
      must_not={"regimens": ANTI_EGFR},
      not_fired="palliative.systemic.first_line_cetuximab palliative.systemic.first_line_panitumumab "
                "palliative.systemic.first_line_left_ras_wild_type palliative.systemic.first_line_triplet",
      scope=ANY),
    V("palliative.systemic.first_line_doublet", "ras-result-pending", patient(LIVER_ONLY, biomarkers={"nras": DROP}),
      must={"regimens": "FOLFOX FOLFIRI FOLFOX_BEV", "tests": "ras_testing"}, must_not={"regimens": ANTI_EGFR},
      possible="palliative.systemic.first_line_cetuximab palliative.systemic.first_line_panitumumab "
               "palliative.systemic.first_line_left_ras_wild_type", scope=ANY),
    V("palliative.systemic.first_line_doublet", "lung-only-unresectable-extrapolated", patient(LUNG_ONLY),
      must={"regimens": "FOLFOX FOLFIRI FOLFOX_CETUXIMAB"}, must_not={"local_treatment": "hai tace tare"},
      not_fired="palliative.liver.hai_first_line palliative.liver.hai_after_systemic"),
    V("palliative.systemic.first_line_doublet", "kras-mutant-aged-76-no-triplet",
      patient(LIVER_ONLY, KRAS_MUT, TRIPLET_FIT, age=76), must={"regimens": "FOLFOX_BEV"},
      must_not={"regimens": "FOLFOXIRI FOLFIRINOX"}, not_fired="palliative.systemic.first_line_triplet", scope=ANY),
    V("palliative.systemic.first_line_doublet", "kras-mutant-low-burden-no-triplet",
      patient(LIVER_ONLY, KRAS_MUT, TRIPLET_FIT, tumour_burden="low"),
      must_not={"regimens": "FOLFOXIRI FOLFIRINOX"}, not_fired="palliative.systemic.first_line_triplet", scope=ANY),
    V("palliative.systemic.first_line_doublet", "europe-no-s1", patient(LIVER_ONLY, region="europe"),
      must_not={"regimens": "SOX IRIS"}, not_fired="palliative.systemic.first_line_s1", scope=ANY),
    V("palliative.systemic.first_line_cetuximab", "left-ras-wild-type",
      patient(LIVER_ONLY), must={"regimens": "FOLFOX_CETUXIMAB FOLFIRI_CETUXIMAB FOLFOX_BEV",
                                 "warnings": "anti_egfr_with_anti_vegf_not_recommended"},
      must_not={"warnings": "anti_egfr_not_for_ras_mutant"}, scope=ANY),
    V("palliative.systemic.first_line_left_ras_wild_type", "sigmoid-ras-wild-type", patient(LIVER_ONLY),
      must={"considerations": "left_ras_wt_anti_egfr_benefit", "regimens": "FOLFOX_CETUXIMAB"},
      must_not={"considerations": "right_sided_bevacizumab_benefit"},
      not_fired="palliative.systemic.first_line_right_ras_wild_type", scope=ANY),
    # 14 lung nodules up to 22 mm: not liver-dominant, so no hepatic arterial infusion (review: HAI is for liver-only
    # or liver-dominant disease)
    V("palliative.systemic.first_line_left_ras_wild_type", "rectal-ras-wild-type-with-lung",
      patient(LUNG_AND_LIVER, primary={"location": "rectum", "distance_from_anal_verge_cm": 12}),
      must={"considerations": "left_ras_wt_anti_egfr_benefit"},
      must_not={"local_treatment": "hai", "regimens": "HAI_FUDR HAI_FUDR_FOLFOX"}),
    V("palliative.liver.hai_first_line", "liver-dominant-two-small-lung-nodules",
      patient({"metastases": [LIVER_UNRES, lung(count=2, largest_size={"value": 8, "unit": "mm"}, zone=DROP,
                                               resectability="unresectable")]}),
      must={"local_treatment": "hai", "regimens": "HAI_FUDR"}),
    V("palliative.systemic.first_line_right_ras_wild_type", "ascending-colon-ras-wild-type",
      patient(LIVER_ONLY, RIGHT), must={"considerations": "right_sided_bevacizumab_benefit",
                                        "regimens": "FOLFOX_BEV FOLFIRI_BEV"},
      must_not={"considerations": "left_ras_wt_anti_egfr_benefit"},
      not_fired="palliative.systemic.first_line_left_ras_wild_type", scope=ANY),
    V("palliative.systemic.first_line_right_ras_wild_type", "transverse-counts-as-right",
      patient(LUNG_AND_LIVER, TRANSVERSE), must={"considerations": "right_sided_bevacizumab_benefit"}),
    V("palliative.systemic.first_line_cetuximab", "side-not-recorded",
      patient(LIVER_ONLY, primary={"location": DROP}), must={"regimens": "FOLFOX FOLFOX_CETUXIMAB"},
      must_not={"considerations": "left_ras_wt_anti_egfr_benefit right_sided_bevacizumab_benefit"},
      possible="palliative.systemic.first_line_right_ras_wild_type palliative.systemic.first_line_left_ras_wild_type",
      scope=ANY),
    V("palliative.systemic.first_line_panitumumab", "left-ras-wild-type", patient(LIVER_ONLY),
      must={"regimens": "FOLFOX_PANITUMUMAB FOLFIRI_PANITUMUMAB"}, scope=ANY),
    V("palliative.systemic.ras_mutant_no_anti_egfr", "nras-mutant-kras-wild-type-no-panitumumab",
      patient(LIVER_ONLY, NRAS_MUT), must={"warnings": "anti_egfr_not_for_ras_mutant", "regimens": "FOLFOX_BEV"},
      must_not={"regimens": ANTI_EGFR}, not_fired="palliative.systemic.first_line_panitumumab", scope=ANY),
    V("palliative.systemic.first_line_s1", "treated-in-japan", patient(LIVER_ONLY, region="japan"),
      must={"regimens": "SOX IRIS FOLFOX", "considerations": "s1_where_practice"}, scope=ANY),
    V("palliative.systemic.first_line_s1", "treated-in-korea-kras-mutant", patient(LUNG_AND_LIVER, KRAS_MUT,
                                                                                 region="korea"),
      must={"regimens": "SOX IRIS"}, must_not={"regimens": ANTI_EGFR}),
    V("palliative.systemic.first_line_doublet", "region-unrecorded-s1-only-possible", patient(LIVER_ONLY),
      must_not={"regimens": "SOX IRIS"}, possible="palliative.systemic.first_line_s1", scope=ANY),
    V("palliative.systemic.first_line_doublet", "china-no-s1", patient(LIVER_ONLY, region="china"),
      must_not={"regimens": "SOX IRIS"}, not_fired="palliative.systemic.first_line_s1", scope=ANY),
    V("palliative.systemic.first_line_triplet", "54-year-old-kras-mutant-high-burden",
      patient(LIVER_ONLY, KRAS_MUT, TRIPLET_FIT),
      must={"regimens": "FOLFOXIRI FOLFIRINOX FOLFOX_BEV", "considerations": "triplet_selected_only"},
      must_not={"regimens": ANTI_EGFR}, scope=ANY),
    V("palliative.systemic.first_line_triplet", "braf-v600e-ras-wild-type-aged-70",
      patient(LUNG_AND_LIVER, BRAF_V600E, TRIPLET_FIT, age=70), must={"regimens": "FOLFOXIRI FOLFIRINOX"}),
    V("palliative.systemic.first_line_doublet", "ras-wild-type-braf-wild-type-no-triplet",
      patient(LIVER_ONLY, TRIPLET_FIT), must_not={"regimens": "FOLFOXIRI FOLFIRINOX"},
      not_fired="palliative.systemic.first_line_triplet", scope=ANY),
    V("palliative.systemic.first_line_doublet", "fitness-for-triplet-not-judged",
      patient(LIVER_ONLY, KRAS_MUT, age=58, tumour_burden="high"), must_not={"regimens": "FOLFOXIRI FOLFIRINOX"},
      possible="palliative.systemic.first_line_triplet", scope=ANY),

    # --- after oxaliplatin --------------------------------------------------------------------------
    V("palliative.systemic.after_oxaliplatin", "ras-wild-type-after-folfox-bev", patient(AFTER_OX),
      must={"regimens": "FOLFIRI FOLFIRI_AFLIBERCEPT FOLFIRI_RAMUCIRUMAB"},
      must_not={"regimens": f"{LATER_AGENTS} FOLFOX CAPOX FOLFOX_BEV SOX"},
      not_fired="palliative.systemic.after_both_later_agents", scope=ANY),
    V("palliative.systemic.after_oxaliplatin", "lung-and-liver-after-capox",
      patient(history(pd("CAPOX", 1, "2025-02-03", "2025-10-06"), mets=[LUNG_UNRES, LIVER_UNRES])),
      must={"regimens": "FOLFIRI FOLFIRI_RAMUCIRUMAB"},
      must_not={"regimens": f"{LATER_AGENTS} HAI_FUDR", "local_treatment": "hai"}),
    V("palliative.systemic.after_oxaliplatin_ras_mutant", "kras-mutant-after-folfox", patient(AFTER_OX, KRAS_MUT),
      must={"regimens": "FOLFIRI_BEV FOLFIRI", "warnings": "anti_egfr_not_for_ras_mutant"},
      must_not={"regimens": ANTI_EGFR}, not_fired="palliative.systemic.after_oxaliplatin_ras_wild_type", scope=ANY),
    V("palliative.systemic.after_oxaliplatin_ras_wild_type", "ras-wild-type-after-folfox", patient(AFTER_OX),
      must={"regimens": "FOLFIRI_CETUXIMAB FOLFIRI_PANITUMUMAB",
            "warnings": "anti_egfr_with_anti_vegf_not_recommended"},
      not_fired="palliative.systemic.after_oxaliplatin_ras_mutant", scope=ANY),

    # --- after irinotecan ---------------------------------------------------------------------------
    V("palliative.systemic.after_irinotecan", "kras-mutant-after-folfiri", patient(AFTER_IRI, KRAS_MUT),
      must={"regimens": "FOLFOX CAPOX FOLFOX_BEV CAPOX_BEV", "warnings": "anti_egfr_not_for_ras_mutant"},
      must_not={"regimens": f"{ANTI_EGFR} {LATER_AGENTS} FOLFIRI_AFLIBERCEPT"},
      not_fired="palliative.systemic.after_irinotecan_ras_wild_type", scope=ANY),
    V("palliative.systemic.after_irinotecan_ras_wild_type", "ras-wild-type-after-folfiri", patient(AFTER_IRI),
      must={"regimens": "FOLFOX_CETUXIMAB FOLFOX_PANITUMUMAB FOLFOX_BEV",
            "warnings": "anti_egfr_with_anti_vegf_not_recommended"},
      must_not={"regimens": LATER_AGENTS}, scope=ANY),

    # --- after both ---------------------------------------------------------------------------------
    V("palliative.systemic.after_both_later_agents", "third-line-ecog-1", patient(AFTER_BOTH, LATER_FIT),
      must={"regimens": LATER_AGENTS}, must_not={"regimens": "FOLFIRI FOLFOX"}, scope=ANY),
    V("palliative.systemic.after_both_later_agents", "third-line-lung-only-kras-mutant",
      patient(history(FOLFOX_BEV_1, FOLFIRI_BEV_2, mets=[LUNG_UNRES]), KRAS_MUT, LATER_FIT),
      must={"regimens": "REGORAFENIB TRIFLURIDINE_TIPIRACIL"}, must_not={"regimens": ANTI_EGFR}),
    V("palliative.systemic.after_both_limited_fitness", "third-line-ecog-2",
      patient(AFTER_BOTH, LATER_FIT, ecog=2), must={"warnings": "later_line_agents_need_fitness"},
      must_not={"regimens": LATER_AGENTS}, not_fired="palliative.systemic.after_both_later_agents", scope=ANY),
    V("palliative.systemic.after_both_limited_fitness", "third-line-bilirubin-raised",
      patient(AFTER_BOTH, LATER_FIT, fitness={"adequate_organ_function": False}),
      must={"warnings": "later_line_agents_need_fitness"}, must_not={"regimens": LATER_AGENTS}, scope=ANY),
    V("palliative.line.after_both", "organ-function-not-recorded",
      patient(AFTER_BOTH, ecog=1), must_not={"regimens": LATER_AGENTS},
      possible="palliative.systemic.after_both_later_agents palliative.systemic.after_both_limited_fitness",
      scope=ANY),
    V("palliative.systemic.reuse_earlier_regimen", "after-two-lines", patient(AFTER_BOTH, LATER_FIT),
      must={"considerations": "reuse_regimen_regain_sensitivity"}, scope=ANY),
    V("palliative.systemic.reuse_earlier_regimen", "two-oxaliplatin-lines-no-regorafenib",
      patient(history(FOLFOX_BEV_1, pd("CAPOX", 2, "2025-10-20", "2026-10-12")), LATER_FIT),
      must={"considerations": "reuse_regimen_regain_sensitivity palliative_line_after_oxaliplatin",
            "regimens": "FOLFIRI"},
      must_not={"regimens": LATER_AGENTS}, not_fired="palliative.systemic.after_both_later_agents", scope=ANY),

    # --- immunotherapy ------------------------------------------------------------------------------
    V("palliative.systemic.checkpoint_dmmr", "dmmr-after-folfox", patient(AFTER_OX, DMMR, RIGHT, BRAF_V600E),
      must={"regimens": f"{CHECKPOINT} FOLFIRI",
            "considerations": "checkpoint_dmmr_pembrolizumab_evidence checkpoint_dmmr_checkmate142_evidence"},
      must_not={"warnings": "checkpoint_not_for_pmmr"}, scope=ANY),
    V("palliative.systemic.checkpoint_dmmr_first_line", "untreated-dmmr-caecum",
      patient(LIVER_ONLY, DMMR, primary={"location": "caecum"}),
      must={"considerations": "checkpoint_listed_beyond_first_line", "regimens": "FOLFOX_BEV"},
      not_fired="palliative.systemic.checkpoint_dmmr", scope=ANY),
    V("palliative.systemic.checkpoint_pmmr", "pmmr-after-folfox", patient(AFTER_OX),
      must={"warnings": "checkpoint_not_for_pmmr"}, must_not={"regimens": CHECKPOINT},
      not_fired="palliative.systemic.checkpoint_dmmr", scope=ANY),
    V("palliative.tests.mmr", "mmr-not-tested-after-folfox",
      patient(AFTER_OX, biomarkers={"mmr": DROP, "msi": DROP}), must={"tests": "mmr_msi_testing"},
      must_not={"regimens": CHECKPOINT, "warnings": "checkpoint_not_for_pmmr"},
      possible="palliative.systemic.checkpoint_dmmr palliative.systemic.checkpoint_pmmr", scope=ANY),
    V("palliative.systemic.ras_mutant_no_anti_egfr", "nras-mutant-right-sided",
      patient(LUNG_AND_LIVER, NRAS_MUT, RIGHT), must={"warnings": "anti_egfr_not_for_ras_mutant"},
      must_not={"regimens": ANTI_EGFR, "considerations": "right_sided_bevacizumab_benefit"}),

    # --- liver-directed -----------------------------------------------------------------------------
    V("palliative.liver.hai_first_line", "untreated-bilobar-liver", patient(LIVER_ONLY),
      must={"local_treatment": "hai", "regimens": "HAI_FUDR HAI_FUDR_FU_LV HAI_FUDR_FOLFOX HAI_FUDR_FOLFIRI"},
      must_not={"local_treatment": "tace tare"}, scope=ANY),
    V("palliative.systemic.first_line_doublet", "liver-potentially-resectable-no-hai",
      patient(metastases=[LUNG_UNRES, merge(LIVER_UNRES, {"resectability": "potentially_resectable"})]),
      must={"regimens": "FOLFOX FOLFIRI"}, must_not={"local_treatment": "hai", "regimens": "HAI_FUDR"},
      not_fired="palliative.liver.hai_first_line"),
    V("palliative.liver.hai_after_systemic", "after-folfox-and-folfiri", patient(AFTER_BOTH, LATER_FIT),
      must={"local_treatment": "hai", "regimens": "HAI_FUDR", "considerations": "hai_partner_by_line"},
      must_not={"regimens": "HAI_FUDR_FOLFOX"}, not_fired="palliative.liver.hai_first_line", scope=ANY),
    V("palliative.liver.early_multifocal", "early-multifocal-liver-only",
      patient(metastases=[merge(LIVER_UNRES, {"multifocal_stage": "early"})]),
      must={"local_treatment": "hai", "considerations": "liver_directed_by_multifocal_stage"},
      must_not={"local_treatment": "tace tare"}, not_fired="palliative.liver.late_multifocal", scope=ANY),
    V("palliative.liver.late_multifocal", "late-multifocal-after-two-lines",
      patient(history(FOLFOX_BEV_1, FOLFIRI_BEV_2, mets=[merge(LIVER_UNRES, {"multifocal_stage": "late"})]),
              LATER_FIT),
      must={"local_treatment": "tace tare hai", "regimens": LATER_AGENTS},
      not_fired="palliative.liver.early_multifocal", scope=ANY),

    # --- biomarker tests ----------------------------------------------------------------------------
    V("palliative.tests.ras", "kras-not-tested", patient(LIVER_ONLY, biomarkers={"kras": DROP}),
      must={"tests": "ras_testing"}, must_not={"regimens": ANTI_EGFR},
      possible="palliative.systemic.first_line_panitumumab", scope=ANY),
    V("palliative.tests.braf", "braf-not-tested-kras-wild-type", patient(LIVER_ONLY, TRIPLET_FIT,
                                                                       biomarkers={"braf": DROP}),
      must={"tests": "braf_testing"}, possible="palliative.systemic.first_line_triplet", scope=ANY),
    V("palliative.tests.mmr", "mmr-msi-not-tested", patient(LIVER_ONLY, biomarkers={"mmr": DROP, "msi": DROP}),
      must={"tests": "mmr_msi_testing"}, must_not={"regimens": CHECKPOINT},
      possible="palliative.systemic.checkpoint_dmmr_first_line", scope=ANY),
]


def _check(v: V) -> None:
    if v.scope == ANY:
        v = dataclasses.replace(v, scope=mcrc.assess(v.patient).scope.status)
    check(v)


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    _check(v)




# ------------------------------------------------------------------------------------------------
# Safety: the invariants hold on every vignette, and the rows are safe by construction
# ------------------------------------------------------------------------------------------------

def _classes(a: mcrc.Assessment) -> list[set[str]]:
    return [set(r.drug_classes) for r in a.regimens]


@pytest.mark.parametrize("v", [param(dataclasses.replace(v, xfail=None)) for v in VIGNETTES])
def test_safety_invariants_hold_on_every_vignette(v: V) -> None:
    a = mcrc.assess(v.patient)  # raises SafetyViolation if any invariant is broken
    facts = a.facts
    assert check_safety(KB, a, Facts.of(**facts)) == []
    for classes in _classes(a):
        assert not {"anti_egfr", "anti_vegf"} <= classes, "anti-EGFR together with anti-VEGF"
        if "anti_egfr" in classes:
            assert facts.get("ras") == "wild_type"
        if classes & {"multikinase_inhibitor", "thymidine_analogue"}:
            assert facts.get("oxaliplatin_failed") is True and facts.get("irinotecan_failed") is True
        if "checkpoint_inhibitor" in classes:
            assert facts.get("mmr_status") == "dmmr_msi_h"
        if "oxaliplatin" in classes:
            assert facts.get("adjuvant_oxaliplatin_failure_12m") is not True




@pytest.mark.parametrize("row_id", sorted(r for r in KB.rows if r.startswith("palliative.")))
def test_each_row_guards_its_own_regimens(row_id: str) -> None:
    """Every row states in its own conditions what the invariants require of what it outputs."""
    row = KB.rows[row_id]
    vocab = KB.vocabulary
    needs = row_conjuncts(row)
    for code in row.codes():
        if not vocab.has("regimens", code):
            continue
        classes = vocab.regimen_drug_classes(code)
        assert not {"anti_egfr", "anti_vegf"} <= classes, code
        if "anti_egfr" in classes:
            assert ("ras", "wild_type") in needs, f"{code} without ras = wild_type"
        if classes & {"multikinase_inhibitor", "thymidine_analogue"}:
            assert {("oxaliplatin_failed", True), ("irinotecan_failed", True)} <= needs, code
        if "checkpoint_inhibitor" in classes:
            assert ("mmr_status", "dmmr_msi_h") in needs, code
        if "oxaliplatin" in classes:
            assert ("adjuvant_oxaliplatin_failure_12m", False) in needs, f"{code} without the early-failure guard"


_PALLIATIVE_KB = dataclasses.replace(KB, tables=tuple(t for t in KB.tables if t.id.startswith("palliative.")))
_GRID = {
    "ras": ("wild_type", "mutant", None),
    "mmr_status": ("dmmr_msi_h", "pmmr_mss", None),
    "oxaliplatin_failed": (True, False, None),
    "irinotecan_failed": (True, False, None),
    "adjuvant_oxaliplatin_failure_12m": (True, False, None),
    "lines_received": (0, 1, 3, None),
    "liver_mets": (True, False),
    "first_chemotherapy_line": (True, False),
    "fluoropyrimidine_failed": (True, False),
    "checkpoint_inhibitor_refractory": (True, False),
}


def test_invariants_hold_over_every_combination_of_the_safety_facts() -> None:
    """All 15,552 combinations of the facts the invariants read (impossible ones included, so the rows
    do not lean on the derivations), every other fact set to the value that fires the most rows."""
    permissive = dict(metastatic=True, ned=False, metastases_unresectable=True, liver_resectability="unresectable",
                      sidedness="left", region="japan", age=50, fit_for_intensive_therapy=True,
                      tumour_burden="high", braf="non_v600e", ecog=0, organ_function_adequate=True,
                      liver_multifocal_stage="early", liver_dominant=True, anti_egfr_refractory=False,
                      ctdna_tissue_ras_discordant=True, multikinase_inhibitor_refractory=False,
                      thymidine_analogue_refractory=False, progressing=True)
    fired = set()
    for combo in itertools.product(*_GRID.values()):
        values = dict(zip(_GRID, combo, strict=True))
        facts = Facts.of(**permissive, **values)
        a = assess_facts(facts, _PALLIATIVE_KB)  # raises SafetyViolation on any breach
        fired |= set(a.fired_rows())
    assert {r for r in KB.rows if r.startswith("palliative.")} - fired <= {
        "palliative.line.undetermined", "palliative.systemic.after_both_limited_fitness",
        "palliative.liver.late_multifocal", "palliative.systemic.first_line_right_ras_wild_type",
        "palliative.tests.braf", "palliative.systemic.first_line_unfit", "palliative.systemic.anti_egfr_withheld",
        "palliative.systemic.braf_v600e_no_anti_egfr_doublet",
        "palliative.line.no_failure_yet"}  # need the opposite of a permissive value


PALLIATIVE = "tables/30-cvir-2019-palliative.yaml"
_PANITUMUMAB_GUARD = (
    "          ras: wild_type\n          braf: [wild_type, non_v600e]  # anti-EGFR for RAS and BRAF wild-type "
    "(liver-sync-meta); V600E: see evidence\n          any:  # after progression on anti-EGFR only a rechallenge "
    "with ctDNA clear after it (evidence-2025 item 11)\n            - {anti_egfr_exposed: false}\n"
    "            - {all: [{anti_egfr_refractory: false}, {any: [{ctdna_clear: true}, {ctdna_clear: {known: "
    "false}}]}]}\n            - {all: [{ctdna_clear: true}, {ctdna_after_anti_egfr: true}, {anti_egfr_benefit: true}, "
    "{anti_egfr_free_since: true}]}\n"
    '        cite: {source: cvir-2019-palliative, where: "Table 3, FOLFOX or FOLFIRI + panitumumab"')
_LATER_AGENTS_GUARD = ("          oxaliplatin_failed: true\n          irinotecan_failed: true\n"
                       "          fluoropyrimidine_failed: true\n          multikinase_inhibitor_refractory: false\n"
                       "          ecog: {le: 1}")
PLANTED = [
    pytest.param(_PANITUMUMAB_GUARD, '          braf: [wild_type, non_v600e]\n'
                 '        cite: {source: cvir-2019-palliative, where: "Table 3, FOLFOX or FOLFIRI + panitumumab"',
                 patient(LIVER_ONLY, KRAS_MUT), "no_anti_egfr_unless_ras_wild_type",
                 id="panitumumab-for-kras-mutant"),
    pytest.param(_LATER_AGENTS_GUARD, "          multikinase_inhibitor_refractory: false\n          ecog: {le: 1}",
                 patient(AFTER_OX, LATER_FIT), "later_line_agents_after_ox_and_iri", id="regorafenib-in-second-line"),
    pytest.param("          mmr_status: dmmr_msi_h\n          checkpoint_inhibitor_refractory: false\n          any:",
                 "          checkpoint_inhibitor_refractory: false\n          any:", patient(AFTER_OX),
                 "checkpoint_only_dmmr", id="pembrolizumab-for-pmmr"),
    pytest.param("          adjuvant_oxaliplatin_failure_12m: false\n        note: >-\n          The source names no",
                 "        note: >-\n          The source names no",
                 # facts no derivation produces today (the verifier explores them all): the row's own guard counts
                 Facts.of(metastatic=True, ned=False, metastases_unresectable=True, irinotecan_failed=True,
                          oxaliplatin_failed=False, adjuvant_oxaliplatin_failure_12m=True),
                 "no_periop_oxaliplatin_after_early_failure", id="folfox-after-early-adjuvant-failure"),
]


@pytest.mark.parametrize(("old", "new", "case", "invariant"), PLANTED)
def test_planted_defect_in_the_palliative_table_is_stopped(tmp_path, old, new, case, invariant) -> None:
    kb = load_knowledge_dir(kb_copy(tmp_path, [(PALLIATIVE, old, new)]))
    with pytest.raises(SafetyViolation) as exc:
        assess_facts(case, kb) if isinstance(case, Facts) else mcrc.assess(case, kb=kb)
    assert invariant in {v.where for v in exc.value.violations}


# ------------------------------------------------------------------------------------------------
# Details the table-driven vignettes do not reach
# ------------------------------------------------------------------------------------------------

def _from_palliative(a: mcrc.Assessment, section: str) -> set[str]:
    """Codes of one section that palliative rows contributed (other sources may add their own)."""
    return {i.code for i in getattr(a, section) if any(r.startswith("palliative.") for r in i.rows)}


def test_not_palliative_when_every_site_is_resectable() -> None:
    a = mcrc.assess(patient())  # synchronous sigmoid with two resectable lung metastases
    assert not [r for r in a.fired_rows() if r.startswith("palliative.")]
    assert not [p for p in a.possible if p.row.startswith("palliative.")]


def test_ned_patient_gets_no_palliative_options() -> None:
    a = mcrc.assess(patient(LUNG_ONLY, ned=True, ned_date="2026-05-18"))
    assert not [r for r in a.fired_rows() if r.startswith("palliative.")]


def test_second_line_by_ras_status() -> None:
    wild = _from_palliative(mcrc.assess(patient(AFTER_OX)), "regimens")
    mutant = _from_palliative(mcrc.assess(patient(AFTER_OX, KRAS_MUT)), "regimens")
    common = {"FOLFIRI", "FOLFIRI_AFLIBERCEPT", "FOLFIRI_RAMUCIRUMAB"}
    assert wild == common | {"FOLFIRI_CETUXIMAB", "FOLFIRI_PANITUMUMAB", "HAI_FUDR"}
    assert mutant == common | {"FOLFIRI_BEV", "HAI_FUDR"}


def test_after_irinotecan_only_anti_vegf_for_ras_mutant() -> None:
    mutant = _from_palliative(mcrc.assess(patient(AFTER_IRI, KRAS_MUT)), "regimens")
    wild = _from_palliative(mcrc.assess(patient(AFTER_IRI)), "regimens")
    assert mutant == {"FOLFOX", "CAPOX", "FOLFOX_BEV", "CAPOX_BEV", "HAI_FUDR"}
    assert wild == mutant | {"FOLFOX_CETUXIMAB", "FOLFOX_PANITUMUMAB"}


def test_first_line_never_offers_later_line_drugs() -> None:
    for p in (patient(LIVER_ONLY), patient(LIVER_ONLY, KRAS_MUT, TRIPLET_FIT, region="japan"),
              patient(LIVER_ONLY, DMMR)):
        regs = _from_palliative(mcrc.assess(p), "regimens")
        assert not regs & set(f"{LATER_AGENTS} {CHECKPOINT} FOLFIRI_AFLIBERCEPT FOLFIRI_RAMUCIRUMAB".split())


def test_dmmr_versus_pmmr_beyond_first_line() -> None:
    dmmr = mcrc.assess(patient(AFTER_OX, DMMR))
    pmmr = mcrc.assess(patient(AFTER_OX))
    assert set(CHECKPOINT.split()) <= dmmr.codes("regimens")
    assert not set(CHECKPOINT.split()) & pmmr.codes()
    assert "checkpoint_not_for_pmmr" in pmmr.codes("warnings")


def test_sidedness_positions_for_ras_wild_type() -> None:
    for extra, note in ((RIGHT, "right_sided_bevacizumab_benefit"), ({}, "left_ras_wt_anti_egfr_benefit")):
        a = mcrc.assess(patient(LIVER_ONLY, extra))
        (topic,) = [t for t in a.positions if t.topic == "first_line_biologic_by_side"]
        ours = [(v.stance, v.row) for v in topic.views if v.voice == "CVIR palliative table"]
        assert len(ours) == 1 and ours[0][0] == "anti_egfr_left_bevacizumab_right"  # one view per voice
        assert note in a.codes("considerations")
    a = mcrc.assess(patient(LIVER_ONLY, KRAS_MUT))
    views = [v for t in a.positions if t.topic == "first_line_biologic_by_side" for v in t.views]
    assert not [v for v in views if v.voice == "CVIR palliative table"]


def test_unknowns_are_possible_not_definite() -> None:
    a = mcrc.assess(patient(LIVER_ONLY, biomarkers={"kras": DROP}, region=DROP))
    possible = {p.row: set(p.needs) for p in a.possible}
    assert "ras" in possible["palliative.systemic.first_line_cetuximab"]
    assert "region" in possible["palliative.systemic.first_line_s1"]
    assert not _from_palliative(a, "regimens") & set(f"{ANTI_EGFR} SOX IRIS".split())
    assert {"ras", "region"} <= {u.fact for u in a.unknown_facts}


# Rows added with the treatment-history model that rest on other sources than Table 3 (decision record 0027).
NOT_TABLE_3 = {"palliative.systemic.first_line_unfit", "palliative.systemic.ctdna_tissue_discordant",
               "palliative.systemic.braf_v600e_no_anti_egfr_doublet"}


def test_citations_name_table_3_and_cite_every_item() -> None:
    for row_id, row in KB.rows.items():
        if row_id.startswith("palliative.") and row_id not in NOT_TABLE_3:
            assert any(c.source == "cvir-2019-palliative" and c.where.startswith("Table 3, ")
                       for c in row.citations), row_id
