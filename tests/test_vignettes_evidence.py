"""Clinical vignettes for the newer trial evidence (evidence-2025, tables/50-evidence-2025.yaml).

The digest is shown beside the guideline sources, never merged into them: its rows output only
`evidence` items (a trial with its item number, headline, US regulatory status and regimens), `tests`
and `notes`, plus positions in the voice "Newer trial evidence". Each vignette names the evidence row
it is written for and asserts the trial codes that must and must not appear, including the exceptions
(KRAS G12C with sotorasib but not G12D, no HER2-directed drug for HER2-negative, no BRAF inhibitor for
non-V600E, no rechallenge when ctDNA shows a resistance mutation). Scope is decided by the guideline
frame, so `scope=None` throughout.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path

import pytest

import mcrc
from mcrc.engine import assess_facts
from mcrc.engine.safety import check_safety
from mcrc.errors import SafetyViolation
from mcrc.facts import Facts
from mcrc.knowledge import load_knowledge_dir
from tests.kbcopy import kb_copy
from tests.patients import DROP, course, lung, merge, patient, site
from tests.test_evidence_rules import _guideline_view
from tests.vignettes import KB, V, check, param, row_conjuncts

EVIDENCE = "tables/50-evidence-2025.yaml"
EXAMPLES = Path(__file__).parent.parent / "examples"

# ------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------

LIVER_UNRES = site("liver", "unresectable", count=9, largest_size={"value": 45, "unit": "mm"}, bilateral=True)
LUNG_UNRES = lung(count=14, bilateral=True, largest_size={"value": 22, "unit": "mm"}, zone=DROP,
                  resectability="unresectable")
LIVER_ONLY = {"metastases": [LIVER_UNRES]}
LUNG_AND_LIVER = {"metastases": [LUNG_UNRES, LIVER_UNRES]}

RIGHT = {"primary": {"location": "ascending_colon"}}
TRANSVERSE = {"primary": {"location": "transverse_colon"}}
DMMR = {"biomarkers": {"mmr": "deficient", "msi": "msi_high"}}
V600E = {"biomarkers": {"braf": "v600e"}}
NON_V600E = {"biomarkers": {"braf": "non_v600e"}}
G12C = {"biomarkers": {"kras": "mutant", "kras_variant": "G12C"}}
G12D = {"biomarkers": {"kras": "mutant", "kras_variant": "G12D"}}
HER2_3 = {"biomarkers": {"her2": "positive", "her2_method": "ihc", "her2_ihc_score": "3+"}}
HER2_2_ISH = {"biomarkers": {"her2": "positive", "her2_method": "ish", "her2_ihc_score": "2+"}}
NO_FUSIONS = {"biomarkers": {"ntrk_fusion": False, "ret_fusion": False}}
CTDNA_CLEAR = {"biomarkers": {"ctdna": {"ras": "wild_type", "braf": "wild_type", "egfr_ectodomain": "wild_type",
                                        "date": "2026-11-02"}}}
CTDNA_RAS = {"biomarkers": {"ctdna": {"ras": "mutant", "braf": "wild_type", "egfr_ectodomain": "wild_type",
                                      "date": "2026-11-02"}}}
CTDNA_EGFR = {"biomarkers": {"ctdna": {"ras": "wild_type", "braf": "wild_type", "egfr_ectodomain": "mutant",
                                       "date": "2026-11-02"}}}
TRIPLET_FIT = {"age": 54, "ecog": 0, "tumour_burden": "high",
               "fitness": {"fit_for_surgery": True, "fit_for_intensive_therapy": True}}
LATER_FIT = {"ecog": 1, "fitness": {"fit_for_surgery": False, "adequate_organ_function": True}}


def pd(regimen: str, line: int, started: str, ended: str) -> dict:
    """A palliative course that ended in radiological progression."""
    return course("palliative", regimen, started, ended, "progression", line=line, progression_date=ended)


def history(*courses: dict, mets: list[dict] | None = None, found: str = "2025-01-15") -> dict:
    """Sigmoid cancer resected in March 2024; metastases found in January 2025; then these courses."""
    return {
        "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-03-12"},
        "metastases": [merge(m, {"found": found}) for m in (mets or [LIVER_UNRES])],
        "treatment_history": {"courses": list(courses),
                              "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]},
    }


FOLFOX_BEV_1 = pd("FOLFOX_BEV", 1, "2025-02-03", "2025-10-06")
FOLFOX_PANI_1 = pd("FOLFOX_PANITUMUMAB", 1, "2025-02-03", "2025-10-06")
FOLFIRI_BEV_2 = pd("FOLFIRI_BEV", 2, "2025-10-20", "2026-06-08")
TAS_3 = pd("TRIFLURIDINE_TIPIRACIL", 3, "2026-06-22", "2026-10-26")
PEMBRO_1 = pd("PEMBROLIZUMAB", 1, "2025-02-03", "2025-10-06")

AFTER_OX = history(FOLFOX_BEV_1)
AFTER_BOTH = history(FOLFOX_BEV_1, FOLFIRI_BEV_2)
AFTER_THREE = history(FOLFOX_BEV_1, FOLFIRI_BEV_2, TAS_3)
AFTER_PANI_THEN_FOLFIRI = history(FOLFOX_PANI_1, FOLFIRI_BEV_2)


def v2(regimen: str, line: int, started: str, ended: str, **kw) -> dict:
    """A schema-2 palliative course that ended in progression (with whatever else it records)."""
    return {"intent": "palliative", "line": line, "regimen": regimen, "started": started, "ended": ended,
            "stop_reason": "progression", "progression_date": ended, **kw}


# Partial response on FOLFOX + panitumumab, then progression; FOLFIRI + bevacizumab, progression (schema 2: the
# rechallenge needs the benefit from the earlier anti-EGFR, which schema 1 could not record).
AFTER_PANI_RESPONSE_THEN_FOLFIRI = history(
    v2("FOLFOX_PANITUMUMAB", 1, "2025-02-03", "2025-10-06", best_response="partial"),
    v2("FOLFIRI_BEV", 2, "2025-10-20", "2026-06-08"))
AFTER_PANI_RESPONSE_THEN_FOLFIRI["treatment_history"]["radiotherapy"] = []
# Liver relapse 7 months after six months of adjuvant CAPOX: oxaliplatin failed, no palliative line yet.
EARLY_ADJUVANT_FAILURE = {
    "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-03-12"},
    "metastases": [merge(LIVER_UNRES, {"found": "2025-04-28"})],
    "treatment_history": {"courses": [course("adjuvant", "CAPOX", "2024-04-15", "2024-09-30", "completed")],
                          "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]},
}
# Liver-only, permanently unresectable, responding to first-line FOLFOX + panitumumab.
RESPONDING = history(course("palliative", "FOLFOX_PANITUMUMAB", "2025-02-03", None, "response", line=1))
SMALL_LIVER = site("liver", "resectable", count=2, largest_size={"value": 25, "unit": "mm"},
                   small_and_accessible=True, major_resection_needed=False)
SINGLE_LUNG_META = {
    "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-03-12"},
    "metastases": [lung(count=1, largest_size={"value": 16, "unit": "mm"}, found="2026-04-14")],
    "treatment_history": {"courses": [], "procedures": [{"kind": "primary_resection", "date": "2024-03-12",
                                                         "margin": "R0"}]},
}


def peri(resectability: str = "resectable", **kw) -> dict:
    return site("peritoneum", resectability, **{"count": 5, "largest_size": {"value": 15, "unit": "mm"}, "pci": 7,
                                                **kw})


UPPER_RECTUM = {"primary": {"location": "rectum", "distance_from_anal_verge_cm": 13}}

MSI_FIRST = "keynote_177 checkmate_8hw"
BRAF_TRIALS = "breakwater beacon_crc"
HER2_TRIALS = "mountaineer destiny_crc02"
G12C_TRIALS = "codebreak_300 krystal_1"
FUSION_TRIALS = "larotrectinib_ntrk entrectinib_ntrk selpercatinib_ret"
RECHALLENGE = "chronos cricket"


def ev(*rows_and_vignettes: V) -> list[V]:
    """Evidence vignettes: the guideline frame decides scope, so it is not checked here."""
    return [dataclasses.replace(v, scope=None) for v in rows_and_vignettes]


# ------------------------------------------------------------------------------------------------
# Vignettes
# ------------------------------------------------------------------------------------------------

VIGNETTES: list[V] = ev(
    # --- MSI-H / dMMR ---------------------------------------------------------------------------------
    V("evidence.msi.first_line", "untreated-dmmr-caecum-liver-only",
      patient(LIVER_ONLY, DMMR, primary={"location": "caecum"}),
      must={"evidence": MSI_FIRST, "considerations": "checkpoint_listed_beyond_first_line"},
      must_not={"evidence": BRAF_TRIALS, "regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB"}),
    V("evidence.msi.first_line", "untreated-dmmr-lung-and-liver", patient(LUNG_AND_LIVER, DMMR),
      must={"evidence": MSI_FIRST}, not_fired="evidence.msi.later_line"),
    V("evidence.msi.first_line", "relapse-soon-after-adjuvant-capox-still-first-palliative-line",
      patient(EARLY_ADJUVANT_FAILURE, DMMR), must={"evidence": MSI_FIRST}),
    V("evidence.systemic.paradigm_left", "pmmr-first-line-no-immunotherapy-evidence", patient(LIVER_ONLY),
      must_not={"evidence": f"{MSI_FIRST} {BRAF_TRIALS}"}, not_fired="evidence.msi.first_line"),
    V("evidence.msi.later_line", "dmmr-after-folfox-bev", patient(AFTER_OX, DMMR, RIGHT),
      must={"evidence": "checkmate_8hw", "regimens": "PEMBROLIZUMAB NIVOLUMAB NIVOLUMAB_IPILIMUMAB"},
      must_not={"evidence": "keynote_177"}, not_fired="evidence.msi.first_line"),
    # probe c14 of the 2026-12-07 review: progression on first-line pembrolizumab -> chemotherapy, never a checkpoint
    # inhibitor again (it used to offer pembrolizumab, nivolumab and nivolumab + ipilimumab and no chemotherapy)
    V("palliative.systemic.after_immunotherapy", "dmmr-progression-on-first-line-pembrolizumab",
      patient(history(PEMBRO_1), DMMR), must={"considerations": "first_chemotherapy_after_immunotherapy",
                                             "regimens": "FOLFOX FOLFIRI FOLFOX_BEV FOLFIRI_BEV"},
      must_not={"evidence": MSI_FIRST, "regimens": "PEMBROLIZUMAB NIVOLUMAB NIVOLUMAB_IPILIMUMAB"},
      not_fired="evidence.msi.first_line evidence.msi.later_line "
                "palliative.systemic.checkpoint_dmmr"),
    V("evidence.msi.mmr_testing", "mmr-not-tested-first-line",
      patient(LIVER_ONLY, biomarkers={"mmr": DROP, "msi": DROP}), must={"tests": "mmr_msi_testing"},
      must_not={"evidence": MSI_FIRST}, possible="evidence.msi.first_line"),

    # --- BRAF V600E -----------------------------------------------------------------------------------
    V("evidence.systemic.braf_v600e_first_line", "untreated-v600e-transverse",
      patient(LUNG_AND_LIVER, V600E, TRANSVERSE, TRIPLET_FIT),
      must={"evidence": "breakwater", "regimens": "FOLFOXIRI"}, must_not={"evidence": "beacon_crc"},
      not_fired="evidence.systemic.braf_v600e_after_one_or_two"),
    V("palliative.tests.ras", "untreated-v600e-ras-unknown-breakwater-only-possible",
      patient(LIVER_ONLY, V600E, biomarkers={"nras": DROP}), must={"tests": "ras_testing"},
      must_not={"evidence": "breakwater"}, possible="evidence.systemic.braf_v600e_first_line"),
    V("palliative.systemic.first_line_triplet", "untreated-braf-non-v600e-no-braf-inhibitor",
      patient(LIVER_ONLY, NON_V600E, TRIPLET_FIT), must={"regimens": "FOLFOXIRI"},
      must_not={"evidence": BRAF_TRIALS}, not_fired="evidence.systemic.braf_v600e_first_line"),
    V("palliative.line.after_oxaliplatin", "v600e-early-adjuvant-oxaliplatin-failure-no-mfolfox6",
      patient(EARLY_ADJUVANT_FAILURE, V600E), must_not={"evidence": BRAF_TRIALS},
      not_fired="evidence.systemic.braf_v600e_first_line evidence.systemic.braf_v600e_after_one_or_two"),
    V("evidence.systemic.braf_v600e_after_one_or_two", "v600e-after-folfox-bev", patient(AFTER_OX, V600E),
      must={"evidence": "beacon_crc", "regimens": "FOLFIRI"}, must_not={"evidence": "breakwater"}),
    V("evidence.systemic.braf_v600e_after_one_or_two", "v600e-after-two-lines", patient(AFTER_BOTH, V600E, LATER_FIT),
      must={"evidence": "beacon_crc sunlight"}),
    V("evidence.systemic.fresco_2", "v600e-after-three-lines-no-beacon", patient(AFTER_THREE, V600E, LATER_FIT),
      must={"evidence": "fresco_2"}, must_not={"evidence": BRAF_TRIALS}),
    V("palliative.systemic.after_oxaliplatin", "non-v600e-after-folfox-no-beacon", patient(AFTER_OX, NON_V600E),
      must_not={"evidence": BRAF_TRIALS}, not_fired="evidence.systemic.braf_v600e_after_one_or_two"),
    V("evidence.tests.braf_v600e", "braf-not-tested-first-line", patient(LIVER_ONLY, biomarkers={"braf": DROP}),
      must={"tests": "braf_testing"}, must_not={"evidence": BRAF_TRIALS},
      possible="evidence.systemic.braf_v600e_first_line"),
    V("evidence.tests.braf_v600e", "braf-not-tested-young-liver-only-transplant-question",
      patient(RESPONDING, biomarkers={"braf": DROP}, age=50), must={"tests": "braf_testing"},
      must_not={"evidence": "transmet"}, possible="evidence.liver.transmet"),

    # --- first-line biologic by side ------------------------------------------------------------------
    V("evidence.systemic.paradigm_left", "left-ras-wild-type-first-line-lung-and-liver", patient(LUNG_AND_LIVER),
      must={"evidence": "paradigm", "regimens": "FOLFOX_PANITUMUMAB"}, must_not={"evidence": "cairo5_left_wild_type"},
      not_fired="evidence.liver.cairo5_left_wild_type"),
    V("palliative.systemic.first_line_right_ras_wild_type", "right-sided-no-paradigm", patient(LIVER_ONLY, RIGHT),
      must_not={"evidence": "paradigm cairo5_left_wild_type"}, not_fired="evidence.systemic.paradigm_left"),
    V("palliative.systemic.first_line_doublet", "kras-mutant-left-no-paradigm",
      patient(LUNG_AND_LIVER, G12D), must_not={"evidence": "paradigm"}),

    # --- CAIRO5 ---------------------------------------------------------------------------------------
    V("evidence.liver.cairo5_left_wild_type", "left-wild-type-liver-only-first-line", patient(LIVER_ONLY),
      must={"evidence": "cairo5_left_wild_type paradigm"}, must_not={"evidence": "cairo5_right_or_mutant"}),
    V("evidence.liver.cairo5_left_wild_type", "left-wild-type-potentially-resectable-liver",
      patient(metastases=[merge(LIVER_UNRES, {"resectability": "potentially_resectable"})]),
      must={"evidence": "cairo5_left_wild_type"}, must_not={"evidence": "paradigm"},
      not_fired="evidence.systemic.paradigm_left"),
    V("evidence.liver.cairo5_right_or_mutant", "right-sided-liver-only-first-line", patient(LIVER_ONLY, RIGHT),
      must={"evidence": "cairo5_right_or_mutant"}, must_not={"evidence": "cairo5_left_wild_type"}),
    V("evidence.liver.cairo5_right_or_mutant", "kras-mutant-left-liver-only", patient(LIVER_ONLY, G12D),
      must={"evidence": "cairo5_right_or_mutant"}, must_not={"evidence": "cairo5_left_wild_type paradigm"}),
    V("evidence.systemic.paradigm_left", "liver-and-lung-not-liver-only-no-cairo5", patient(LUNG_AND_LIVER),
      must_not={"evidence": "cairo5_left_wild_type cairo5_right_or_mutant"}),
    V("evidence.liver.transmet", "on-conversion-therapy-transmet-not-cairo5",
      patient(history(course("conversion", "FOLFOX_PANITUMUMAB", "2025-02-03", "2025-06-02", "response")), age=58),
      must={"evidence": "transmet"}, must_not={"evidence": "cairo5_left_wild_type cairo5_right_or_mutant"},
      not_fired="evidence.liver.cairo5_left_wild_type"),

    # --- HER2 -----------------------------------------------------------------------------------------
    V("evidence.systemic.her2_refractory_ras_wild_type", "her2-3plus-after-folfox-and-folfiri",
      patient(AFTER_BOTH, HER2_3, LATER_FIT), must={"evidence": f"{HER2_TRIALS} sunlight"}),
    V("evidence.systemic.her2_previously_treated", "her2-positive-kras-mutant-refractory",
      patient(AFTER_BOTH, HER2_3, G12D, LATER_FIT), must={"evidence": "destiny_crc02"},
      must_not={"evidence": f"mountaineer {G12C_TRIALS}"},
      not_fired="evidence.systemic.her2_refractory_ras_wild_type"),
    V("evidence.systemic.her2_previously_treated", "her2-positive-after-one-line", patient(AFTER_OX, HER2_3),
      must={"evidence": "destiny_crc02"}, must_not={"evidence": "mountaineer"}),
    V("evidence.systemic.sunlight", "her2-negative-refractory-no-her2-drugs", patient(AFTER_BOTH, LATER_FIT),
      must={"evidence": "sunlight"}, must_not={"evidence": HER2_TRIALS},
      not_fired="evidence.systemic.her2_previously_treated evidence.systemic.her2_refractory_ras_wild_type"),
    V("evidence.systemic.paradigm_left", "her2-positive-first-line-not-yet", patient(LIVER_ONLY, HER2_3),
      must_not={"evidence": HER2_TRIALS}, not_fired="evidence.systemic.her2_previously_treated"),
    V("evidence.systemic.her2_ihc_3plus", "her2-3plus-inside-approval", patient(AFTER_OX, HER2_3),
      must={"considerations": "her2_ihc_3plus_within_approval"},
      must_not={"considerations": "her2_positive_not_ihc_3plus"}),
    V("evidence.systemic.her2_not_ihc_3plus", "her2-2plus-ish-positive-outside-approval",
      patient(AFTER_OX, HER2_2_ISH), must={"evidence": "destiny_crc02",
                                           "considerations": "her2_positive_not_ihc_3plus"},
      must_not={"considerations": "her2_ihc_3plus_within_approval"}),
    V("evidence.tests.her2", "her2-not-tested-after-folfox", patient(AFTER_OX, biomarkers={"her2": DROP}),
      must={"tests": "her2_testing"}, must_not={"evidence": HER2_TRIALS},
      possible="evidence.systemic.her2_previously_treated"),

    # --- KRAS G12C ------------------------------------------------------------------------------------
    V("evidence.systemic.kras_g12c_refractory", "g12c-after-folfox-and-folfiri",
      patient(AFTER_BOTH, G12C, LATER_FIT),
      must={"evidence": f"{G12C_TRIALS} sunlight", "warnings": "anti_egfr_not_for_ras_mutant"},
      must_not={"regimens": "SOTORASIB_PANITUMUMAB ADAGRASIB_CETUXIMAB FOLFIRI_PANITUMUMAB"}),
    V("evidence.systemic.sunlight", "g12d-refractory-no-g12c-inhibitor", patient(AFTER_BOTH, G12D, LATER_FIT),
      must={"evidence": "sunlight"}, must_not={"evidence": f"{G12C_TRIALS} {RECHALLENGE}"},
      not_fired="evidence.systemic.kras_g12c_refractory"),
    V("palliative.systemic.after_oxaliplatin_ras_mutant", "g12c-after-folfox-only-not-yet-refractory",
      patient(AFTER_OX, G12C), must_not={"evidence": G12C_TRIALS},
      not_fired="evidence.systemic.kras_g12c_refractory"),
    V("evidence.tests.kras_variant", "kras-mutant-variant-not-recorded",
      patient(AFTER_BOTH, LATER_FIT, biomarkers={"kras": "mutant"}), must={"tests": "kras_variant_testing"},
      must_not={"evidence": G12C_TRIALS}, possible="evidence.systemic.kras_g12c_refractory"),

    # --- NTRK / RET -----------------------------------------------------------------------------------
    V("evidence.systemic.ntrk_fusion", "ntrk-fusion-dmmr-after-pembrolizumab",
      patient(history(PEMBRO_1), DMMR, RIGHT, biomarkers={"ntrk_fusion": True, "ret_fusion": False}),
      must={"evidence": "larotrectinib_ntrk entrectinib_ntrk"},
      must_not={"evidence": f"selpercatinib_ret {MSI_FIRST}"}),
    V("evidence.systemic.ntrk_fusion", "ntrk-fusion-first-line-pmmr",
      patient(LIVER_ONLY, RIGHT, biomarkers={"ntrk_fusion": True}), must={"evidence": "larotrectinib_ntrk"}),
    V("evidence.systemic.ret_fusion", "ret-fusion-refractory",
      patient(AFTER_BOTH, LATER_FIT, biomarkers={"ret_fusion": True, "ntrk_fusion": False}),
      must={"evidence": "selpercatinib_ret"}, must_not={"evidence": "larotrectinib_ntrk entrectinib_ntrk"}),
    V("evidence.systemic.sunlight", "fusions-negative-no-fusion-drugs", patient(AFTER_BOTH, LATER_FIT, NO_FUSIONS),
      must_not={"evidence": FUSION_TRIALS, "tests": "fusion_testing"}),
    V("evidence.tests.fusions", "dmmr-right-sided-wild-type-untested", patient(LIVER_ONLY, DMMR, RIGHT),
      must={"tests": "fusion_testing"}, must_not={"evidence": FUSION_TRIALS},
      possible="evidence.systemic.ntrk_fusion evidence.systemic.ret_fusion"),
    V("evidence.tests.fusions", "refractory-left-wild-type-untested", patient(AFTER_BOTH, LATER_FIT),
      must={"tests": "fusion_testing"}),
    V("evidence.systemic.paradigm_left", "pmmr-left-first-line-no-fusion-test", patient(LIVER_ONLY),
      must_not={"tests": "fusion_testing"}, not_fired="evidence.tests.fusions"),
    V("evidence.msi.first_line", "dmmr-right-kras-mutant-no-fusion-test",
      patient(LIVER_ONLY, DMMR, RIGHT, G12D), must_not={"tests": "fusion_testing"},
      not_fired="evidence.tests.fusions"),

    # --- anti-EGFR rechallenge ------------------------------------------------------------------------
    V("evidence.systemic.rechallenge_ctdna_clear", "pani-response-then-folfiri-ctdna-clear",
      patient(AFTER_PANI_RESPONSE_THEN_FOLFIRI, CTDNA_CLEAR, LATER_FIT),
      must={"evidence": f"{RECHALLENGE} sunlight"},
      must_not={"considerations": "anti_egfr_rechallenge_ctdna_mutant", "tests": "ctdna_testing",
                "warnings": "anti_egfr_withheld_until_ctdna"}),
    # the benefit from the earlier anti-EGFR is not recorded: the rechallenge is possible, not offered
    V("evidence.systemic.sunlight", "pani-benefit-unknown-no-rechallenge",
      patient(AFTER_PANI_THEN_FOLFIRI, CTDNA_CLEAR, LATER_FIT), must_not={"evidence": RECHALLENGE},
      possible="evidence.systemic.rechallenge_ctdna_clear"),
    V("evidence.systemic.rechallenge_ctdna_mutant", "pani-then-folfiri-ctdna-kras-mutant",
      patient(AFTER_PANI_THEN_FOLFIRI, CTDNA_RAS, LATER_FIT),
      must={"considerations": "anti_egfr_rechallenge_ctdna_mutant", "evidence": "sunlight"},
      must_not={"evidence": RECHALLENGE, "tests": "ctdna_testing"},
      not_fired="evidence.systemic.rechallenge_ctdna_clear"),
    V("evidence.systemic.rechallenge_ctdna_mutant", "pani-then-folfiri-ctdna-egfr-ectodomain",
      patient(AFTER_PANI_THEN_FOLFIRI, CTDNA_EGFR, LATER_FIT),
      must={"considerations": "anti_egfr_rechallenge_ctdna_mutant"}, must_not={"evidence": RECHALLENGE}),
    V("evidence.systemic.sunlight", "never-had-anti-egfr-no-rechallenge", patient(AFTER_BOTH, CTDNA_CLEAR, LATER_FIT),
      must_not={"evidence": RECHALLENGE, "tests": "ctdna_testing"},
      not_fired="evidence.systemic.rechallenge_ctdna_clear"),
    V("evidence.tests.ctdna_before_rechallenge", "pani-then-folfiri-no-ctdna",
      patient(AFTER_PANI_THEN_FOLFIRI, LATER_FIT), must={"tests": "ctdna_testing"},
      must_not={"evidence": RECHALLENGE}, possible="evidence.systemic.rechallenge_ctdna_clear"),
    V("evidence.tests.ctdna_before_rechallenge", "ctdna-egfr-not-reported",
      patient(AFTER_PANI_THEN_FOLFIRI, LATER_FIT,
              biomarkers={"ctdna": {"ras": "wild_type", "braf": "wild_type", "date": "2026-11-02"}}),
      must={"tests": "ctdna_testing"}, must_not={"evidence": RECHALLENGE}),

    # --- refractory disease ---------------------------------------------------------------------------
    V("evidence.systemic.sunlight", "third-line-after-folfox-and-folfiri", patient(AFTER_BOTH, LATER_FIT),
      must={"evidence": "sunlight", "regimens": "TRIFLURIDINE_TIPIRACIL REGORAFENIB"},
      must_not={"evidence": "fresco_2", "regimens": "TRIFLURIDINE_TIPIRACIL_BEV"}),
    V("evidence.systemic.sunlight", "early-adjuvant-failure-then-folfiri",
      patient(EARLY_ADJUVANT_FAILURE, LATER_FIT, treatment_history={"courses": [
          course("adjuvant", "CAPOX", "2024-04-15", "2024-09-30", "completed"),
          pd("FOLFIRI_BEV", 1, "2025-05-12", "2026-05-04")]}),
      must={"evidence": "sunlight"}, must_not={"evidence": "fresco_2"}),
    V("evidence.systemic.fresco_2", "fourth-line-after-trifluridine", patient(AFTER_THREE, LATER_FIT),
      must={"evidence": "fresco_2"}, must_not={"evidence": "sunlight", "regimens": "FRUQUINTINIB"},
      not_fired="evidence.systemic.sunlight"),
    V("palliative.line.after_oxaliplatin", "second-line-no-refractory-evidence", patient(AFTER_OX),
      must_not={"evidence": "sunlight fresco_2"},
      not_fired="evidence.systemic.sunlight evidence.systemic.fresco_2"),

    # --- liver: COLLISION and TRANSMET ----------------------------------------------------------------
    V("evidence.liver.collision", "two-small-metachronous-liver-metastases",
      patient(history(mets=[SMALL_LIVER], found="2026-09-14")),
      must={"evidence": "collision"}, must_not={"evidence": "transmet cairo5_left_wild_type"}),
    V("evidence.liver.collision", "liver-3cm-exactly-with-lung", patient(metastases=[
        lung(count=1), merge(SMALL_LIVER, {"largest_size": {"value": 3, "unit": "cm"}})]),
      must={"evidence": "collision pulmicc"}),
    V("liver.route.periop_primary_resected", "liver-35mm-no-collision",
      patient(history(mets=[merge(SMALL_LIVER, {"largest_size": {"value": 35, "unit": "mm"}})], found="2026-09-14")),
      must_not={"evidence": "collision"}, not_fired="evidence.liver.collision"),
    V("evidence.liver.transmet", "age-50-liver-only-responding", patient(RESPONDING, age=50),
      must={"evidence": "transmet"}, must_not={"evidence": "collision cairo5_left_wild_type"}),
    V("evidence.liver.transmet", "age-65-stable-on-conversion",
      patient(history(course("conversion", "FOLFOXIRI_BEV", "2025-02-03", "2025-08-04", "stable")), age=65),
      must={"evidence": "transmet"}),
    V("liver.conversion.principles", "age-66-no-transmet", patient(RESPONDING, age=66),
      must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet"),
    V("palliative.liver.hai_after_systemic", "v600e-no-transmet", patient(RESPONDING, V600E, age=50),
      must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet"),
    V("palliative.liver.hai_after_systemic", "progressing-no-transmet", patient(AFTER_OX, age=50),
      must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet"),
    V("evidence.liver.cairo5_left_wild_type", "untreated-young-liver-only-no-transmet-yet", patient(LIVER_ONLY, age=50),
      must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet"),

    # --- local: PRODIGE 7, PulMiCC, SABR-COMET --------------------------------------------------------
    V("evidence.local.prodige_7", "upper-rectal-peritoneal-pci-7",
      patient(UPPER_RECTUM, metastases=[peri(p_category="P2")]), must={"evidence": "prodige_7"}),
    V("evidence.local.prodige_7", "sigmoid-peritoneal-potentially-resectable",
      patient(metastases=[peri("potentially_resectable")]), must={"evidence": "prodige_7"}),
    V("palliative.systemic.first_line_doublet", "peritoneal-unresectable-no-prodige",
      patient(UPPER_RECTUM, metastases=[peri("unresectable", pci=24)]), must_not={"evidence": "prodige_7"},
      not_fired="evidence.local.prodige_7"),
    V("evidence.local.pulmicc", "two-resectable-lung-metastases", patient(), must={"evidence": "pulmicc"},
      must_not={"evidence": "sabr_comet"}, not_fired="evidence.local.sabr_comet"),
    V("evidence.local.pulmicc", "single-metachronous-lung-metastasis", patient(SINGLE_LUNG_META),
      must={"evidence": "pulmicc"}, must_not={"evidence": "sabr_comet"}),
    V("lung.route.lymphangitic", "lymphangitic-no-pulmicc",
      patient(metastases=[lung(count=30, bilateral=True, lymphangitic=True, zone=DROP, resectability="resectable")]),
      must_not={"evidence": "pulmicc"}, not_fired="evidence.local.pulmicc"),
    V("evidence.local.sabr_comet", "two-unresectable-liver-lesions-primary-resected",
      patient(history(mets=[site("liver", "unresectable", count=2, largest_size={"value": 30, "unit": "mm"})])),
      must={"evidence": "sabr_comet"}, not_fired="evidence.local.sabr_comet_lung_nonsurgical"),
    V("evidence.local.sabr_comet_lung_nonsurgical", "single-lung-metastasis-unfit",
      patient(SINGLE_LUNG_META, fitness={"fit_for_surgery": False}),
      must={"evidence": "sabr_comet pulmicc", "strategies": "lung_sbrt_or_ablation"}),
    V("evidence.local.sabr_comet_lung_nonsurgical", "single-lung-metastasis-declines-surgery",
      patient(SINGLE_LUNG_META, preferences={"declines_surgery": True}), must={"evidence": "sabr_comet"}),
    V("evidence.local.pulmicc", "six-lesions-too-many-for-sabr-comet",
      patient(SINGLE_LUNG_META, fitness={"fit_for_surgery": False},
              metastases=[lung(count=6, bilateral=True, zone=DROP, found="2026-04-14")]),
      must_not={"evidence": "sabr_comet"}, not_fired="evidence.local.sabr_comet"),
    V("evidence.local.pulmicc", "primary-in-place-no-sabr-comet", patient(fitness={"fit_for_surgery": False}),
      must_not={"evidence": "sabr_comet"}, not_fired="evidence.local.sabr_comet_lung_nonsurgical"),
)


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)




# ------------------------------------------------------------------------------------------------
# The evidence items themselves
# ------------------------------------------------------------------------------------------------

TRIALS = KB.vocabulary.terms["trials"]
EVIDENCE_ROWS = [r for r in KB.rows.values() if r.id.startswith("evidence.")]


def test_every_digest_item_is_encoded_and_cited_by_number() -> None:
    items = {t.meta["item"] for t in TRIALS.values() if t.meta["source"] == "evidence-2025"}
    assert items == set(range(1, 19)), f"items without a trial code: {sorted(set(range(1, 19)) - items)}"
    cited = {c.where for r in EVIDENCE_ROWS for c in r.citations if c.source == "evidence-2025"}
    cited |= {c.where for r in EVIDENCE_ROWS for items_ in r.outputs.values() for i in items_
              for c in i.citations if c.source == "evidence-2025"}
    assert {f"item {n}" for n in range(1, 19)} <= cited
    assert "Guidelines that consolidate these" in cited
    output = {i.code for r in EVIDENCE_ROWS for i in r.outputs.get("evidence", ())}
    assert output == set(TRIALS), f"trial codes no row outputs: {sorted(set(TRIALS) - output)}"


@pytest.mark.parametrize("code", sorted(TRIALS))
def test_trial_term_has_name_item_headline_and_us_status(code: str) -> None:
    t = TRIALS[code]
    assert t.label and t.definition and len(t.definition) > 60
    assert 1 <= t.meta["item"] <= (18 if t.meta["source"] == "evidence-2025" else 10)
    status = t.meta["status"]
    # other regions unknown, unless a digest reports one (evidence-2026 item 1: an EU approval, date unconfirmed)
    assert status.startswith("US FDA:") and status.endswith("unknown.")
    for reg in t.meta.get("regimens", []):
        assert KB.vocabulary.has("regimens", reg)
    # the item a trial code carries is the item its rows cite, in its own digest
    rows = [r for r in EVIDENCE_ROWS if any(i.code == code for i in r.outputs.get("evidence", ()))]
    for r in rows:
        item = next(i for i in r.outputs["evidence"] if i.code == code)
        cites = {(c.source, c.where) for c in (item.citations or r.citations)}
        assert (t.meta["source"], f"item {t.meta['item']}") in cites, (code, r.id, cites)
        # an item a later digest updates cites both (its history is kept)
        if "updated_by" in t.meta:
            newer = t.meta["updated_by"]
            assert (newer["source"], f"item {newer['item']}") in cites, (code, r.id, cites)


def test_grades_are_never_invented() -> None:
    """No guideline grade is given unless a digest states it: only the newer CSCO editions' own grades, which
    evidence-2026 items 8 and 9 report, appear (as "its grade"/"its level" or "this edition's level")."""
    text = (Path(mcrc.__file__).parent / "knowledge" / "data" / EVIDENCE).read_text(encoding="utf-8")
    text += (Path(mcrc.__file__).parent / "knowledge" / "data" / "vocabulary-evidence.yaml").read_text(encoding="utf-8")
    stated = re.findall(r"(?:its|edition's) (?:grade|level) \w+", " ".join(text.split()))
    assert sorted(stated) == ["edition's level 1A", "its grade I", "its grade III", "its grade III", "its level 1A"]
    rest = re.sub(r"(?:its|edition's) (?:grade|level) \w+", "", " ".join(text.split()))
    assert not re.search(r"\b(grade|level) (I|II|III|IV|V|A|B|C|1|2)\w*\b|\bESMO-MCBS\b|\bcategory 2A\b", rest)


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES if not v.xfail])
def test_each_evidence_item_shown_carries_trial_item_headline_status(v: V) -> None:
    a = mcrc.assess(v.patient)
    for e in a.evidence:
        term = TRIALS[e.code]
        assert e.label == term.label and e.item == term.meta["item"] and e.headline == term.definition
        assert e.regulatory_status and e.regulatory_status.startswith("US FDA:")
        assert e.regimens == list(term.meta.get("regimens", []))
        assert any(c.source == term.meta["source"] and c.where == f"item {e.item}" for c in e.citations)
        assert "Seen: " in e.headline  # the seen grade shows with the item
        assert all(r.startswith("evidence.") for r in e.rows)


# Where the trial departs from the guideline sources (the `differs` flag), by row and trial code.
DIFFERS = {
    ("evidence.msi.first_line", "keynote_177"), ("evidence.msi.first_line", "checkmate_8hw"),
    ("evidence.msi.first_line", "csco_2025"), ("evidence.msi.first_line_resectable", "keynote_177"),
    ("evidence.msi.first_line_resectable", "checkmate_8hw"), ("evidence.msi.first_line_resectable", "csco_2025"),
    ("evidence.systemic.braf_v600e_first_line", "breakwater"),
    ("evidence.systemic.braf_v600e_first_line_folfiri", "breakwater_folfiri"),
    ("evidence.systemic.csco_2024_triplet", "csco_2024"), ("evidence.liver.csco_2024_triplet_cetuximab", "csco_2024"),
    ("evidence.liver.collision", "csco_2025"), ("evidence.local.orchestra", "orchestra"),
    ("evidence.systemic.braf_v600e_after_one_or_two", "beacon_crc"),
    ("evidence.systemic.her2_refractory_ras_wild_type", "mountaineer"),
    ("evidence.systemic.her2_previously_treated", "destiny_crc02"),
    ("evidence.systemic.kras_g12c_refractory", "codebreak_300"),
    ("evidence.systemic.kras_g12c_refractory", "krystal_1"),
    ("evidence.systemic.ntrk_fusion", "larotrectinib_ntrk"), ("evidence.systemic.ntrk_fusion", "entrectinib_ntrk"),
    ("evidence.systemic.ret_fusion", "selpercatinib_ret"),
    ("evidence.systemic.sunlight", "sunlight"), ("evidence.systemic.fresco_2", "fresco_2"),
    ("evidence.liver.cairo5_left_wild_type", "cairo5_left_wild_type"), ("evidence.liver.collision", "collision"),
    ("evidence.liver.transmet", "transmet"), ("evidence.local.prodige_7", "prodige_7"),
    ("evidence.local.pulmicc", "pulmicc"),
}
AGREES = {  # shown with a note saying they are consistent with the guideline sources
    ("evidence.msi.first_line_liver", "keynote_177"), ("evidence.msi.first_line_liver", "checkmate_8hw"),
    ("evidence.msi.first_line_liver", "csco_2025"),
    ("evidence.msi.later_line", "checkmate_8hw"), ("evidence.systemic.paradigm_left", "paradigm"),
    ("evidence.liver.cairo5_right_or_mutant", "cairo5_right_or_mutant"),
    ("evidence.systemic.avex_unfit_first_line", "avex"),
    ("evidence.systemic.rechallenge_ctdna_clear", "chronos"), ("evidence.systemic.rechallenge_ctdna_clear", "cricket"),
    ("evidence.local.sabr_comet", "sabr_comet"), ("evidence.local.sabr_comet_lung_nonsurgical", "sabr_comet"),
}


PENDING = {("evidence.systemic.stellar_303", "stellar_303")}  # a result awaiting a US decision: neither


def test_differs_is_set_exactly_where_a_trial_departs_from_the_guidelines() -> None:
    flagged, plain, pending = set(), set(), set()
    for r in EVIDENCE_ROWS:
        for item in r.outputs.get("evidence", ()):
            if TRIALS[item.code].meta["approval"]["kind"] == "pending":
                assert not item.differs and (item.note or "").startswith("Not an approved option"), (r.id, item.code)
                pending.add((r.id, item.code))
                continue
            (flagged if item.differs else plain).add((r.id, item.code))
            if not item.differs:
                assert any(w in (item.note or "") for w in ("onsistent", "Agrees", "In line")), (r.id, item.code)
    assert flagged == DIFFERS
    assert plain == AGREES
    assert pending == PENDING


def test_msi_first_line_is_flagged_as_differing_in_the_assessment() -> None:
    a = mcrc.assess(patient(LIVER_ONLY, DMMR, RIGHT))
    items = {e.code: e for e in a.evidence}
    assert items["keynote_177"].differs and "first line" in items["keynote_177"].differs
    assert items["checkmate_8hw"].differs
    later = {e.code: e for e in mcrc.assess(patient(AFTER_OX, DMMR)).evidence}
    assert later["checkmate_8hw"].differs is None and "CVIR" in later["checkmate_8hw"].note


def test_paradigm_agrees_and_says_so() -> None:
    (item,) = [e for e in mcrc.assess(patient(LUNG_AND_LIVER)).evidence if e.code == "paradigm"]
    assert item.differs is None and item.note.startswith("Consistent with the guideline sources")


def test_sunlight_cites_the_consolidating_guideline_paragraph_without_a_grade() -> None:
    (item,) = [e for e in mcrc.assess(patient(AFTER_BOTH, LATER_FIT)).evidence if e.code == "sunlight"]
    assert {c.where for c in item.citations} == {"item 12", "Guidelines that consolidate these"}
    assert "no grade" in item.note


# ------------------------------------------------------------------------------------------------
# Evidence is shown beside the guidelines and never changes them
# ------------------------------------------------------------------------------------------------

def test_evidence_rows_output_only_evidence_tests_notes_and_warnings() -> None:
    for r in EVIDENCE_ROWS:
        assert set(r.outputs) <= {"evidence", "tests", "notes", "warnings"}, r.id
        assert not r.strategies, r.id
        assert all(c.source in ("evidence-2025", "evidence-2026", "mcrc-project") for c in r.citations), r.id
        assert r.citations[0].source in ("evidence-2025", "evidence-2026"), r.id


@pytest.mark.parametrize("v", [param(dataclasses.replace(v, xfail=None)) for v in VIGNETTES])
def test_guideline_sections_identical_with_evidence_hidden(v: V) -> None:
    shown = mcrc.assess(v.patient, show_evidence=True)
    hidden = mcrc.assess(v.patient, show_evidence=False)
    assert not hidden.evidence
    assert not [r for r in hidden.fired_rows() if r.startswith("evidence.")]
    assert _guideline_view(shown) == _guideline_view(hidden)


def _guideline_topics() -> set[str]:
    return {r.position.topic for r in KB.rows.values() if r.position and not r.id.startswith("evidence.")}


def test_positions_use_the_evidence_voice_on_topics_a_guideline_also_speaks_to() -> None:
    with_position = [r for r in EVIDENCE_ROWS if r.position]
    assert {r.position.topic for r in with_position} == {
        "peritoneal", "lung_resection_timing", "lung_nonsurgical", "resectable_liver", "unresectable_liver",
        "first_line_biologic_by_side"}
    for r in with_position:
        assert r.position.voice == "Newer trial evidence"
        assert r.position.topic in _guideline_topics(), r.id


def _views(a: mcrc.Assessment, topic: str) -> tuple[str, dict[str, set[str]]]:
    (t,) = [t for t in a.positions if t.topic == topic]
    out: dict[str, set[str]] = {}
    for view in t.views:
        out.setdefault(view.voice, set()).add(view.stance)
    return t.agreement, out


@pytest.mark.parametrize(("stem", "topic", "voices", "agreement"), [
    ("55-evidence-rectal-peritoneal-cytoreduction", "peritoneal", {"NCCN", "ESMO", "JSCCR"}, "differ"),
    ("56-evidence-small-liver-metastases-ablation", "resectable_liver", {"ESMO-based liver summary"}, "differ"),
    ("57-evidence-liver-transplant-candidate", "unresectable_liver",
     {"ESMO-based liver summary", "CVIR palliative table"}, "differ"),
    ("58-evidence-lung-metastasectomy-candidate", "lung_resection_timing", {"Chinese lung consensus"}, "differ"),
])
def test_examples_show_the_trial_beside_the_guidelines(stem, topic, voices, agreement) -> None:
    a = mcrc.assess(json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8")))
    got_agreement, views = _views(a, topic)
    assert got_agreement == agreement
    assert voices | {"Newer trial evidence"} == set(views)


def test_paradigm_agrees_with_the_guidelines_side_by_side() -> None:
    agreement, views = _views(mcrc.assess(patient(LUNG_AND_LIVER)), "first_line_biologic_by_side")
    assert agreement == "agree" and views["Newer trial evidence"] == {"anti_egfr_left_bevacizumab_right"}


def test_sabr_comet_agrees_with_the_lung_consensus_when_surgery_is_unsuitable() -> None:
    a = mcrc.assess(patient(SINGLE_LUNG_META, fitness={"fit_for_surgery": False}))
    agreement, views = _views(a, "lung_nonsurgical")
    assert agreement == "agree" and {"Chinese lung consensus", "Newer trial evidence"} <= set(views)


def test_cairo5_beside_the_conversion_sources_and_paradigm_beside_the_biologic_choice() -> None:
    a = mcrc.assess(patient(LIVER_ONLY))  # left-sided RAS/BRAF wild-type, liver-only, untreated
    agreement, views = _views(a, "first_line_biologic_by_side")
    assert agreement == "agree" and views["Newer trial evidence"] == {"anti_egfr_left_bevacizumab_right"}
    agreement, views = _views(a, "unresectable_liver")
    assert agreement == "differ" and views["Newer trial evidence"] == {"biologic_equal_left_liver_only"}
    agreement, views = _views(mcrc.assess(patient(LIVER_ONLY, RIGHT)), "unresectable_liver")
    assert views["Newer trial evidence"] == {"triplet_bev_small_gain"}


@pytest.mark.parametrize("v", [param(dataclasses.replace(v, xfail=None)) for v in VIGNETTES])
def test_one_view_per_voice_on_every_topic(v: V) -> None:
    for t in mcrc.assess(v.patient).positions:
        voices = [view.voice for view in t.views]
        assert len(voices) == len(set(voices)), f"{t.topic}: a voice appears twice"


def test_evidence_in_every_new_example() -> None:
    for path in sorted(EXAMPLES.glob("*-evidence-*.json")):
        a = mcrc.assess(json.loads(path.read_text(encoding="utf-8")))
        assert a.evidence, path.stem


def test_nothing_for_ned_patients() -> None:
    a = mcrc.assess(patient(SINGLE_LUNG_META, ned=True, ned_date="2026-06-01"))
    assert not [r for r in a.fired_rows() if r.startswith("evidence.")]
    assert not a.evidence


def test_resectable_disease_gets_immunotherapy_evidence_but_no_later_line_systemic_evidence() -> None:
    """KEYNOTE-177 and CheckMate 8HW took untreated metastatic dMMR/MSI-H disease whatever its resectability
    (evidence-2026 item 2); the refractory-line trials stay with unresectable disease."""
    a = mcrc.assess(patient(DMMR, G12C, HER2_3))  # resectable lung metastases, curative route
    codes = {e.code for e in a.evidence}
    assert set(MSI_FIRST.split()) <= codes
    assert not codes & set(f"{G12C_TRIALS} {HER2_TRIALS}".split())
    assert not [p for p in a.possible if p.row.startswith("evidence.systemic.")]


# ------------------------------------------------------------------------------------------------
# Safety: the targeted-drug invariants hold on evidence items too
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("v", [param(dataclasses.replace(v, xfail=None)) for v in VIGNETTES])
def test_no_safety_problem(v: V) -> None:
    a = mcrc.assess(v.patient)  # raises SafetyViolation on any breach
    assert check_safety(KB, a, Facts.of(**a.facts)) == []




@pytest.mark.parametrize("row_id", sorted(r.id for r in EVIDENCE_ROWS))
def test_each_row_guards_its_own_trial_regimens(row_id: str) -> None:
    """Every row states in its own conditions the target each of its trial regimens needs."""
    row = KB.rows[row_id]
    needs = row_conjuncts(row)
    text = row.when.text() if hasattr(row.when, "text") else str(row.when)
    vocab = KB.vocabulary
    for item in row.outputs.get("evidence", ()):
        for reg in TRIALS[item.code].meta.get("regimens", []):
            classes = vocab.regimen_drug_classes(reg)
            assert not {"anti_egfr", "anti_vegf"} <= classes, reg
            if "anti_egfr" in classes:
                assert ("ras", "wild_type") in needs or ("kras_g12c", True) in needs, (row_id, reg)
                # after progression on anti-EGFR only with ctDNA clear after it (evidence-2025 item 11)
                assert "anti_egfr_refractory" in text or "lines_received = 0" in text, (row_id, reg)
            if "checkpoint_inhibitor" in classes:
                assert ("mmr_status", "dmmr_msi_h") in needs, (row_id, reg)
            if "her2_directed" in classes:
                assert ("her2", "positive") in needs, (row_id, reg)
            if "braf_inhibitor" in classes:
                assert ("braf", "v600e") in needs, (row_id, reg)
            if "kras_g12c_inhibitor" in classes:
                assert ("kras_g12c", True) in needs, (row_id, reg)
            if "trk_inhibitor" in classes:
                assert ("ntrk_fusion", True) in needs, (row_id, reg)
            if "ret_inhibitor" in classes:
                assert ("ret_fusion", True) in needs, (row_id, reg)
            if classes & {"multikinase_inhibitor", "thymidine_analogue"}:
                assert {("oxaliplatin_failed", True), ("irinotecan_failed", True)} <= needs, (row_id, reg)
            if "oxaliplatin" in classes:
                assert ("adjuvant_oxaliplatin_failure_12m", False) in needs, (row_id, reg)


_EVIDENCE_KB = dataclasses.replace(KB, tables=tuple(t for t in KB.tables if t.evidence))
_GRID = {
    "ras": ("wild_type", "mutant", None),
    "kras_g12c": (True, False, None),
    "her2": ("positive", "negative", None),
    "braf": ("wild_type", "v600e", "v600e", "non_v600e", None),
    "mmr_status": ("dmmr_msi_h", "pmmr_mss", None),
    "ntrk_fusion": (True, False, None),
    "ret_fusion": (True, False, None),
    "anti_egfr_exposed": (True, False, None),
    "ctdna_clear": (True, False, None),
    "checkpoint_inhibitor_exposed": (True, False, None),
    "oxaliplatin_failed": (True, False, None),
    "irinotecan_failed": (True, False, False, None),  # repeated values are drawn more often
    "adjuvant_oxaliplatin_failure_12m": (True, False, None),
    "lines_received": (0, 0, 1, 2, 3, None),
    "fluoropyrimidine_failed": (True, False, None),
    "anti_egfr_refractory": (True, False, None),
    "anti_egfr_benefit": (True, False, None),
    "ctdna_after_anti_egfr": (True, False, None),
    "checkpoint_inhibitor_refractory": (True, False, None),
    "braf_inhibitor_refractory": (True, False, None),
    "metastases_unresectable": (True, True, True, False, None),
    "liver_only": (True, False, None),
    "fit_for_intensive_therapy": (True, None),  # unfit needs the guideline's de-escalated line (not in this KB)
}


def test_invariants_hold_over_sampled_combinations_of_the_safety_facts() -> None:
    """30,000 random combinations of every fact the targeted-drug invariants read (impossible ones
    included, so the rows do not lean on the derivations), other facts set to fire as many rows as
    possible; every evidence row must fire somewhere and no assessment may breach an invariant."""
    permissive = dict(metastatic=True, ned=False, sidedness="left", liver_mets=True, primary_status="resected",
                      liver_resectability="unresectable", age=50, progressing=False,
                      multikinase_inhibitor_exposed=False, first_chemotherapy_line=True,
                      neoadjuvant_given=True, her2_ihc_3plus=True, kras="mutant", anti_egfr_free_since=True,
                      controlled_on_chemotherapy=True, **{f"{c}_refractory": False for c in (
                          "kras_g12c_inhibitor", "trk_inhibitor", "ret_inhibitor", "multikinase_inhibitor",
                          "thymidine_analogue", "vegfr_inhibitor", "irinotecan")})
    rng = random.Random(2025)
    fired: set[str] = set()
    for _ in range(30000):
        values = {k: rng.choice(v) for k, v in _GRID.items()}
        a = assess_facts(Facts.of(**permissive, **values), _EVIDENCE_KB)  # raises SafetyViolation on a breach
        fired |= set(a.fired_rows())
    systemic = {r for r in KB.rows if r.startswith(("evidence.systemic.", "evidence.tests.", "evidence.msi."))}
    assert systemic - fired <= {"evidence.systemic.her2_not_ihc_3plus", "evidence.tests.braf_v600e",
                                "evidence.systemic.avex_unfit_first_line",  # needs unfit and a first line
                                "evidence.tests.kras_variant", "evidence.tests.fusions"}


PLANTED = [
    pytest.param("          kras_g12c: true\n          oxaliplatin_failed: true",
                 "          oxaliplatin_failed: true", patient(AFTER_BOTH, G12D, LATER_FIT),
                 {"kras_g12c_inhibitor_only_g12c", "no_anti_egfr_unless_ras_wild_type"}, id="g12c-pair-for-g12d"),
    pytest.param("          ctdna_clear: true\n          ctdna_after_anti_egfr: true",
                 "          ctdna_after_anti_egfr: true",
                 patient(AFTER_PANI_RESPONSE_THEN_FOLFIRI, CTDNA_RAS, LATER_FIT),
                 {"no_rechallenge_against_ctdna", "anti_egfr_rechallenge_only_with_clear_ctdna"},
                 id="rechallenge-against-mutant-ctdna"),
    pytest.param("        when:\n          her2: positive\n          ras: wild_type\n",
                 "        when:\n          ras: wild_type\n", patient(AFTER_BOTH, LATER_FIT),
                 {"her2_directed_only_her2_positive"}, id="tucatinib-for-her2-negative"),
    pytest.param("          braf: v600e\n          ras: wild_type\n          lines_received: {ge: 1, le: 2}",
                 "          ras: wild_type\n          lines_received: {ge: 1, le: 2}",
                 patient(AFTER_OX, NON_V600E), {"braf_inhibitor_only_v600e"}, id="encorafenib-for-non-v600e"),
    pytest.param("          mmr_status: dmmr_msi_h\n          lines_received: 0\n"
                 "          checkpoint_inhibitor_exposed: false\n          metastases_unresectable: true\n",
                 "          lines_received: 0\n          checkpoint_inhibitor_exposed: false\n"
                 "          metastases_unresectable: true\n", patient(LIVER_ONLY), {"checkpoint_only_dmmr"},
                 id="pembrolizumab-for-pmmr"),
    pytest.param("          irinotecan_failed: true\n          lines_received: {le: 2}",
                 "          lines_received: {le: 2}", patient(AFTER_OX),
                 {"later_line_agents_after_ox_and_iri"}, id="trifluridine-bev-in-second-line"),
]


@pytest.mark.parametrize(("old", "new", "case", "invariants"), PLANTED)
def test_planted_defect_in_the_evidence_table_is_stopped(tmp_path, old, new, case, invariants) -> None:
    kb = load_knowledge_dir(kb_copy(tmp_path, [(EVIDENCE, old, new)]))
    with pytest.raises(SafetyViolation) as exc:
        mcrc.assess(case, kb=kb)
    assert invariants <= {v.where for v in exc.value.violations}
    # the same patient is safe with the knowledge base as shipped, and hiding evidence avoids the row
    mcrc.assess(case)
    mcrc.assess(case, kb=kb, show_evidence=False)
