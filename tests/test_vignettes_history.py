"""Issue 16: treated patients as a board counts them. Every probe case c1-c14 of the 2026-12-07 review
(`shared/reviews/knowledge-audit-others-2026-12-07.md`, section 7) with the answer a board would accept, and a
vignette for each row the treatment-history model added. Histories are schema 2 (intent, best response, stop
reason, progression date; decision record 0026).

The review's base patient: 60 years, ECOG 1, sigmoid primary resected, unresectable liver metastases, KRAS, NRAS and
BRAF wild-type, pMMR, HER2 negative, fit.
"""

from __future__ import annotations

import pytest

import mcrc
from tests.patients import merge
from tests.vignettes import V, check, param

ANTI_EGFR = "FOLFOX_CETUXIMAB FOLFIRI_CETUXIMAB FOLFOX_PANITUMUMAB FOLFIRI_PANITUMUMAB"
OXALIPLATIN = "FOLFOX CAPOX FOLFOX_BEV CAPOX_BEV SOX FOLFOXIRI FOLFIRINOX"
CHECKPOINT = "PEMBROLIZUMAB NIVOLUMAB NIVOLUMAB_IPILIMUMAB"
LATER = "REGORAFENIB TRIFLURIDINE_TIPIRACIL"
ANY = None  # the scope of an add-on row is another table's business


def liver(**kw) -> dict:
    return {"organ": "liver", "count": 8, "largest_size": {"value": 40, "unit": "mm"}, "found": "2025-01-15",
            "resectability": "unresectable", **kw}


def course(regimen: str, started: str, ended: str | None, stop: str | None, intent: str = "palliative",
           **kw) -> dict:
    out = {"intent": intent, "regimen": regimen, "started": started, "stop_reason": stop, **kw}
    if ended:
        out["ended"] = ended
    return {k: v for k, v in out.items() if v is not None}


def base(*courses: dict, mets: list | None = None, **over) -> dict:
    """The review's base patient with these courses (schema 2)."""
    out = {
        "schema_version": "2", "age": 60, "sex": "female", "ecog": 1,
        "primary": {"location": "sigmoid_colon", "ct": "T3", "cn": "N1", "diagnosed": "2024-02-20",
                    "status": "resected", "resected_on": "2024-03-12", "emergency": "none"},
        "metastases": mets if mets is not None else [liver()],
        "biomarkers": {"kras": "wild_type", "nras": "wild_type", "braf": "wild_type", "mmr": "proficient",
                       "msi": "stable", "her2": "negative", "specimen": "metastasis"},
        "treatment_history": {"courses": list(courses), "radiotherapy": [],
                              "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]},
        "fitness": {"fit_for_surgery": True, "fit_for_intensive_therapy": True, "adequate_organ_function": True},
        "preferences": {"declines_surgery": False}, "tumour_burden": "high", "region": "europe",
    }
    return merge(out, over) if over else out


FOLFOX_PANI_PROGRESSED = course("FOLFOX_PANITUMUMAB", "2025-02-03", "2025-10-06", "progression",
                                progression_date="2025-10-01", best_response="partial")
CTDNA_RAS_AFTER = {"biomarkers": {"ctdna": {"ras": "mutant", "braf": "wild_type", "egfr_ectodomain": "wild_type",
                                            "date": "2025-10-20"}}}
CONVERSION_PROGRESSED = course("FOLFOX_BEV", "2025-02-03", "2025-06-02", "progression", intent="conversion",
                               progression_date="2025-06-02")
LATER_FIT = {"ecog": 1, "fitness": {"adequate_organ_function": True}}

VIGNETTES: list[V] = [
    # c1: progression on FOLFOX + panitumumab, no ctDNA: anti-EGFR withheld and the test asked for; irinotecan next
    # (no rechallenge is possible yet whatever the ctDNA: an anti-EGFR-free line comes first, CONVENTIONS E2)
    V("palliative.systemic.anti_egfr_withheld", "c1-progressed-on-panitumumab-no-ctdna", base(FOLFOX_PANI_PROGRESSED),
      must={"warnings": "anti_egfr_withheld_until_ctdna", "tests": "ctdna_testing",
            "regimens": "FOLFIRI FOLFIRI_AFLIBERCEPT FOLFIRI_RAMUCIRUMAB"},
      must_not={"regimens": ANTI_EGFR + " " + OXALIPLATIN}, scope=ANY),
    # c1b: ... ctDNA after it shows a RAS mutation: anti-EGFR gone, and the answer says why, citing item 11
    V("evidence.systemic.rechallenge_ctdna_mutant", "c1b-ctdna-ras-mutant-after-panitumumab",
      base(FOLFOX_PANI_PROGRESSED, biomarkers=CTDNA_RAS_AFTER["biomarkers"]),
      must={"warnings": "anti_egfr_withheld_until_ctdna", "considerations": "anti_egfr_rechallenge_ctdna_mutant"},
      must_not={"regimens": ANTI_EGFR, "tests": "ctdna_testing"},
      not_fired="palliative.systemic.after_oxaliplatin_ras_wild_type", scope=ANY),
    # c2: BRAF V600E, progression on conversion FOLFOX-bev: no first-line trials with mFOLFOX6; BEACON shown
    V("evidence.systemic.braf_v600e_after_one_or_two", "c2-v600e-after-conversion-folfox",
      base(CONVERSION_PROGRESSED, biomarkers={"braf": "v600e"}),
      must={"evidence": "beacon_crc", "warnings": "anti_egfr_not_for_braf_v600e"},
      must_not={"evidence": "breakwater paradigm", "regimens": ANTI_EGFR + " " + OXALIPLATIN},
      not_fired="evidence.systemic.braf_v600e_first_line evidence.systemic.paradigm_left", scope=ANY),
    V("palliative.systemic.braf_v600e_no_anti_egfr_doublet", "untreated-v600e-no-anti-egfr-doublet",
      base(biomarkers={"braf": "v600e"}), must={"warnings": "anti_egfr_not_for_braf_v600e"},
      must_not={"regimens": ANTI_EGFR}, scope=ANY),
    # c3: dMMR, progression on conversion FOLFOX-bev: KEYNOTE-177 is not first line any more
    V("evidence.msi.later_line", "c3-dmmr-after-conversion-folfox",
      base(CONVERSION_PROGRESSED, biomarkers={"mmr": "deficient", "msi": "msi_high"}),
      must={"evidence": "checkmate_8hw"}, must_not={"evidence": "keynote_177"},
      not_fired="evidence.msi.first_line", scope=ANY),
    # c4: rectum 8 cm, 3 resectable liver metastases, FOLFOX progressed, FOLFIRI-bev responded: no FOLFOX/CAPOX
    V("rectal.liver.esmo_resectable", "c4-rectal-liver-after-folfox-failure",
      base(course("FOLFOX", "2025-02-03", "2025-07-07", "progression", progression_date="2025-07-01"),
           course("FOLFIRI_BEV", "2025-07-21", None, "ongoing", best_response="partial"),
           mets=[liver(count=3, largest_size={"value": 25, "unit": "mm"}, resectability="resectable")],
           primary={"location": "rectum", "distance_from_anal_verge_cm": 8}),
      must_not={"regimens": "FOLFOX CAPOX"}, not_fired="rectal.liver.esmo_resectable_regimens", scope=ANY),
    # c5: FOLFOX-bev stopped for oxaliplatin neuropathy, FOLFIRI-bev progressed: the later-line agents, no oxaliplatin
    V("palliative.systemic.after_both_later_agents", "c5-oxaliplatin-neuropathy-then-folfiri-progression",
      base(course("FOLFOX_BEV", "2025-02-03", "2025-06-02", "toxicity", toxicity_drugs=["oxaliplatin"]),
           course("FOLFIRI_BEV", "2025-06-16", "2026-03-02", "progression", progression_date="2026-03-01"),
           biomarkers={"kras": "mutant", "kras_variant": "G12D"}, **LATER_FIT),
      must={"regimens": LATER, "considerations": "palliative_line_after_both"},
      must_not={"regimens": OXALIPLATIN}, scope=ANY),
    # c6: FOLFOX-bev completed, progression 3 months after its end: oxaliplatin failed, irinotecan next; the liver
    # summary's first-choice conversion regimens are not re-offered mid-sequence
    V("palliative.systemic.after_oxaliplatin", "c6-progression-three-months-after-completed-folfox",
      base(course("FOLFOX_BEV", "2025-02-03", "2025-08-04", "completed", progression_date="2025-11-03",
                  best_response="partial")),
      must={"regimens": "FOLFIRI FOLFIRI_AFLIBERCEPT", "considerations": "palliative_line_after_oxaliplatin"},
      must_not={"regimens": OXALIPLATIN},
      not_fired="liver.conversion.left_wild_type_doublet liver.conversion.left_wild_type_oxaliplatin", scope=ANY),
    # ... potentially resectable: the liver summary's FOLFIRI after oxaliplatin failure, not its first choices
    V("liver.conversion.oxaliplatin_failed", "c6b-potentially-resectable-after-folfox-failure",
      base(course("FOLFOX_BEV", "2025-02-03", "2025-08-04", "completed", progression_date="2025-11-03",
                  best_response="partial"), mets=[liver(resectability="potentially_resectable")]),
      must={"regimens": "FOLFIRI"}, must_not={"regimens": OXALIPLATIN + " FOLFIRI_CETUXIMAB"},
      not_fired="liver.conversion.left_wild_type_doublet liver.conversion.left_wild_type_oxaliplatin", scope=ANY),
    # c8: right colon, potentially resectable, unfit: triplets carry the fitness caveat, de-escalated option offered
    V("palliative.systemic.first_line_unfit", "c8-unfit-first-line-de-escalated",
      base(primary={"location": "ascending_colon"}, fitness={"fit_for_intensive_therapy": False}, age=81),
      must={"regimens": "CAPECITABINE_BEV CAPECITABINE", "considerations": "palliative_line_first_unfit"}, scope=ANY),
    V("evidence.systemic.avex_unfit_first_line", "c8b-unfit-first-line-avex-beside",
      base(primary={"location": "ascending_colon"}, fitness={"fit_for_intensive_therapy": False}, age=81),
      must={"evidence": "avex", "regimens": "CAPECITABINE_BEV"}, scope=ANY),
    # c10: FOLFOX-bev, stable for 5 months and going on: no first-choice conversion regimens again; TRANSMET (55 y)
    V("evidence.liver.transmet", "c10-stable-on-folfox-bev-five-months",
      base(course("FOLFOX_BEV", "2026-07-01", None, "ongoing", best_response="stable"), age=55),
      must={"evidence": "transmet"}, not_fired="liver.conversion.left_wild_type_doublet", scope=ANY),
    # c12: liver metastasis found during adjuvant CAPOX, stopped for toxicity: early failure, no perioperative FOLFOX
    V("liver.periop.early_oxaliplatin_failure", "c12-relapse-during-adjuvant-capox",
      base(course("CAPOX", "2024-04-15", "2024-06-03", "toxicity", intent="adjuvant"),
           mets=[liver(count=2, largest_size={"value": 25, "unit": "mm"}, found="2024-05-27",
                       resectability="resectable")]),
      must={"regimens": "FOLFIRI", "warnings": "no_periop_oxaliplatin"}, must_not={"regimens": OXALIPLATIN},
      scope=ANY),
    # c13: conversion FOLFOX-bev progressed, salvage FOLFIRI-bev responded, liver now resectable: the curative route
    # applies again (the source: not *directly* to resection); the salvage worked, so resection now, not more
    # preoperative chemotherapy, then the same regimen to 6 months in all
    V("liver.route.after_conversion_primary_resected", "c13-salvage-response-then-resectable",
      base(CONVERSION_PROGRESSED,
           course("FOLFIRI_BEV", "2025-06-16", "2025-11-03", "planned_surgery", intent="conversion",
                  best_response="partial"),
           mets=[liver(count=5, largest_size={"value": 30, "unit": "mm"}, resectability="resectable")]),
      must_not={"warnings": "neoadjuvant_progression"}, steps=["resect_or_ablate_liver postoperative_systemic_therapy"],
      not_fired="liver.route.neoadjuvant_progression liver.route.chemo_first_primary_resected", goal="ned"),
    # a resectable patient with no treatment recorded keeps the source's chemotherapy-first route
    V("liver.route.chemo_first_primary_resected", "resectable-five-lesions-untreated",
      base(mets=[liver(count=5, largest_size={"value": 30, "unit": "mm"}, resectability="resectable")]),
      steps=["preoperative_systemic_therapy resect_or_ablate_liver"], goal="ned"),
    V("liver.route.after_conversion_primary_in_place", "conversion-worked-primary-in-place",
      base(course("FOLFOXIRI_BEV", "2025-02-03", "2025-07-07", "planned_surgery", intent="conversion",
                  best_response="partial"),
           mets=[liver(count=6, largest_size={"value": 30, "unit": "mm"}, resectability="resectable")],
           primary={"status": "in_place", "resectability": "resectable", "resected_on": None},
           treatment_history={"procedures": []}),
      steps=["resect_primary_and_liver postoperative_systemic_therapy"], goal="ned",
      not_fired="liver.route.chemo_first_primary_in_place liver.route.periop_primary_in_place"),
    # conversion given but the response is not recorded: whether it worked is unknown, no resection-now route
    V("liver.route.undetermined", "conversion-response-not-recorded",
      base(course("FOLFOX_BEV", "2025-02-03", "2025-07-07", "completed", intent="conversion"),
           mets=[liver(count=3, largest_size={"value": 30, "unit": "mm"}, resectability="resectable")]),
      not_fired="liver.route.after_conversion_primary_resected liver.route.periop_primary_resected", scope=ANY),
    # progression on capecitabine-bev maintenance 11 months after FOLFOX-bev induction: oxaliplatin has not failed;
    # the induction doublet again (it stays line 1) or FOLFIRI; never "no drug has failed" with no regimen
    V("palliative.line.progression_off_doublet", "progression-on-maintenance-after-folfox-bev",
      base(course("FOLFOX_BEV", "2025-01-06", "2025-06-23", "completed", best_response="partial"),
           course("CAPECITABINE_BEV", "2025-07-07", "2026-05-18", "progression", intent="maintenance",
                  progression_date="2026-05-11", best_response="partial"),
           biomarkers={"kras": "mutant", "kras_variant": "G12D"}),
      must={"considerations": "palliative_line_progression_off_doublet"},
      not_fired="palliative.line.no_failure_yet", scope=ANY),
    V("palliative.systemic.progression_off_doublet", "maintenance-progression-regimens",
      base(course("FOLFOX_BEV", "2025-01-06", "2025-06-23", "completed", best_response="partial"),
           course("CAPECITABINE_BEV", "2025-07-07", "2026-05-18", "progression", intent="maintenance",
                  progression_date="2026-05-11", best_response="partial"),
           biomarkers={"kras": "mutant", "kras_variant": "G12D"}),
      must={"regimens": "FOLFOX_BEV FOLFIRI_BEV FOLFIRI"}, must_not={"regimens": LATER + " " + ANTI_EGFR},
      scope=ANY),
    V("palliative.systemic.progression_off_doublet_ras_wild_type", "maintenance-progression-ras-wild-type",
      base(course("FOLFOX_BEV", "2025-01-06", "2025-06-23", "completed", best_response="partial"),
           course("CAPECITABINE_BEV", "2025-07-07", "2026-05-18", "progression", intent="maintenance",
                  progression_date="2026-05-11")),
      must={"regimens": "FOLFOX_PANITUMUMAB FOLFIRI_CETUXIMAB FOLFOX_BEV"}, scope=ANY),
    # ... progression on maintenance 2 months after the induction's oxaliplatin: refractory (R1), irinotecan next
    V("palliative.systemic.after_oxaliplatin", "progression-on-maintenance-soon-after-oxaliplatin",
      base(course("FOLFOX_BEV", "2025-01-06", "2025-06-23", "completed", best_response="partial"),
           course("CAPECITABINE_BEV", "2025-07-07", "2025-08-25", "progression", intent="maintenance",
                  progression_date="2025-08-20"),
           biomarkers={"kras": "mutant", "kras_variant": "G12D"}),
      must={"regimens": "FOLFIRI FOLFIRI_BEV"}, must_not={"regimens": OXALIPLATIN},
      not_fired="palliative.systemic.progression_off_doublet", scope=ANY),
    # c14 lives in test_vignettes_evidence.py (palliative.systemic.after_immunotherapy)
    # new rows
    V("palliative.systemic.after_both_trifluridine_tipiracil", "regorafenib-failed-trifluridine-next",
      base(course("FOLFOX_BEV", "2024-06-03", "2025-01-06", "progression", progression_date="2025-01-06"),
           course("FOLFIRI_BEV", "2025-01-20", "2025-09-01", "progression", progression_date="2025-09-01"),
           course("REGORAFENIB", "2025-09-15", "2026-01-12", "progression", progression_date="2026-01-12"),
           **LATER_FIT),
      must={"regimens": "TRIFLURIDINE_TIPIRACIL"}, must_not={"regimens": "REGORAFENIB"},
      not_fired="palliative.systemic.after_both_later_agents", scope=ANY),
    # third line: control, not conversion; the conversion principles (restage every 2 months) are not repeated
    V("palliative.line.after_both", "third-line-no-conversion-principles",
      base(course("FOLFOX_BEV", "2024-06-03", "2025-01-06", "progression", progression_date="2025-01-06"),
           course("FOLFIRI_BEV", "2025-01-20", "2025-09-01", "progression", progression_date="2025-09-01"),
           **LATER_FIT),
      not_fired="liver.conversion.principles", scope=ANY),
    V("palliative.systemic.ctdna_tissue_discordant", "ctdna-ras-mutant-tissue-wild-type-untreated",
      base(biomarkers={"ctdna": {"ras": "mutant", "braf": "wild_type", "egfr_ectodomain": "wild_type",
                                 "date": "2025-01-20"}}),
      must={"warnings": "ctdna_tissue_ras_discordant"}, scope=ANY),
]


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)


# ---- the review's cases beyond the vignettes ----------------------------------------------------------------
def test_c5b_the_drug_not_tolerated_is_asked_for_not_assumed() -> None:
    """FOLFOX-bev stopped for toxicity without naming the drug: neither oxaliplatin again nor the later-line agents;
    both are possible and the answer names what settles them."""
    a = mcrc.assess(base(course("FOLFOX_BEV", "2025-02-03", "2025-06-02", "toxicity"),
                         course("FOLFIRI_BEV", "2025-06-16", "2026-03-02", "progression",
                                progression_date="2026-03-01"),
                         biomarkers={"kras": "mutant", "kras_variant": "G12D"}, **LATER_FIT))
    regimens = a.codes("regimens")
    assert not regimens & set(OXALIPLATIN.split()) and not regimens & set(LATER.split())
    possible = {p.row for p in a.possible}
    assert {"palliative.systemic.after_both_later_agents", "palliative.systemic.after_irinotecan"} <= possible
    assert {"oxaliplatin_intolerant", "oxaliplatin_failed"} & {u.fact for u in a.unknown_facts}


def test_c7_single_small_lesion_keeps_both_strategies() -> None:
    a = mcrc.assess(base(mets=[liver(count=1, largest_size={"value": 15, "unit": "mm"}, resectability="resectable",
                                     found="2026-04-14")]))
    labels = [s.label for s in a.strategies if s.row == "liver.route.single_small_primary_resected"]
    assert labels[0] == "Surgery first" and len(labels) == 2


def test_c8_combinations_carry_the_fitness_caveat_and_come_last() -> None:
    for resectability in ("potentially_resectable", "unresectable"):
        a = mcrc.assess(base(primary={"location": "ascending_colon"}, fitness={"fit_for_intensive_therapy": False},
                             age=81, mets=[liver(resectability=resectability)]))
        for r in a.regimens:  # every combination, the conversion triplets included, carries the caveat
            if len({c for c in r.drug_classes} & {"fluoropyrimidine", "oxaliplatin", "irinotecan"}) >= 2:
                assert "combination_needs_fitness" in {c.code for c in r.caveats}, (resectability, r.code)
    plain = [r.code for r in a.regimens if not r.caveats]
    assert {"CAPECITABINE", "CAPECITABINE_BEV"} <= set(plain)
    order = [r.code for r in a.regimens]
    assert max(order.index(c) for c in plain) < min(order.index(r.code) for r in a.regimens if r.caveats)


def test_right_sided_anti_egfr_carries_the_caveat_after_bevacizumab() -> None:
    a = mcrc.assess(base(primary={"location": "ascending_colon"}))
    order = [r.code for r in a.regimens]
    for r in a.regimens:
        if "anti_egfr" in r.drug_classes:
            assert "anti_egfr_right_sided" in {c.code for c in r.caveats}, r.code
            assert order.index(r.code) > order.index("FOLFOX_BEV"), order


def test_c9_kras_g12c_after_both_gets_the_pair_and_the_later_agents() -> None:
    a = mcrc.assess(base(course("FOLFOX_BEV", "2024-06-03", "2025-01-06", "progression", progression_date="2025-01-06"),
                         course("FOLFIRI_BEV", "2025-01-20", "2025-09-01", "progression",
                                progression_date="2025-09-01"),
                         biomarkers={"kras": "mutant", "kras_variant": "G12C"}, **LATER_FIT))
    assert {"REGORAFENIB", "TRIFLURIDINE_TIPIRACIL"} <= a.codes("regimens")
    assert {"codebreak_300", "krystal_1"} <= a.codes("evidence")


def test_c13_before_the_salvage_responds_resection_is_barred() -> None:
    a = mcrc.assess(base(CONVERSION_PROGRESSED,
                         course("FOLFIRI_BEV", "2025-06-16", None, "ongoing", intent="conversion"),
                         mets=[liver(count=5, largest_size={"value": 30, "unit": "mm"}, resectability="resectable")]))
    assert "liver.route.chemo_first_primary_resected" not in a.fired_rows()
    assert "neoadjuvant_progression" in {u.fact for u in a.unknown_facts} or \
        "liver.route.neoadjuvant_progression" in a.fired_rows()


# ---- the examples review (helper report on examples 59-70) ---------------------------------------------------
FOLFIRI_CETUXIMAB_PROGRESSED = course("FOLFIRI_CETUXIMAB", "2025-03-24", "2026-10-19", "progression",
                                      progression_date="2026-10-14", best_response="partial")
CTDNA_CLEAR_AFTER = {"ctdna": {"ras": "wild_type", "braf": "wild_type", "egfr_ectodomain": "wild_type",
                               "date": "2026-11-02"}}


def test_no_rechallenge_straight_after_progression_on_anti_egfr() -> None:
    """E2: a clear ctDNA right after progression on cetuximab is not enough; an anti-EGFR-free line comes first."""
    a = mcrc.assess(base(FOLFIRI_CETUXIMAB_PROGRESSED, biomarkers=CTDNA_CLEAR_AFTER))
    assert not a.codes("regimens") & set(ANTI_EGFR.split())
    assert {"FOLFOX", "FOLFOX_BEV"} <= a.codes("regimens")


def test_rechallenge_after_a_free_line_is_offered_and_labelled() -> None:
    """Response on FOLFIRI-cetuximab, progression, FOLFOX-bev since (progressed), ctDNA clear after: CHRONOS and
    CRICKET shown, each labelled as a rechallenge."""
    a = mcrc.assess(base(course("FOLFIRI_CETUXIMAB", "2024-03-04", "2025-03-03", "progression",
                                progression_date="2025-03-01", best_response="partial"),
                         course("FOLFOX_BEV", "2025-03-17", "2026-09-07", "progression", progression_date="2026-09-01"),
                         biomarkers={"ctdna": {**CTDNA_CLEAR_AFTER["ctdna"], "date": "2026-09-20"}}, **LATER_FIT))
    shown = [e for e in a.evidence if e.code in ("chronos", "cricket")]
    assert shown and all("anti_egfr_rechallenge" in {c.code for c in e.caveats} for e in shown)
    anti_egfr = [r for r in a.regimens if "anti_egfr" in r.drug_classes]
    assert all("anti_egfr_rechallenge" in {c.code for c in r.caveats} for r in anti_egfr)


def test_beacon_carries_no_sidedness_caveat() -> None:
    """The antibody in encorafenib + cetuximab serves the BRAF inhibitor: the right-sided caveat does not apply."""
    a = mcrc.assess(base(course("FOLFOXIRI_BEV", "2025-04-13", "2025-09-21", "completed", best_response="partial"),
                         course("FU_LV_BEV", "2025-10-05", "2025-11-16", "progression", intent="maintenance",
                                progression_date="2025-11-16"),
                         primary={"location": "ascending_colon"}, biomarkers={"braf": "v600e"}))
    beacon = [e for e in a.evidence if e.code == "beacon_crc"]
    assert beacon and not beacon[0].caveats
    # progression 8 weeks after the last oxaliplatin and irinotecan, on maintenance: both have failed (R1)
    assert {"palliative.line.after_both"} <= set(a.fired_rows())


def test_oxaliplatin_reexposure_is_a_reminder_not_a_demotion() -> None:
    """Adjuvant CAPOX three years ago: FOLFOX-bev keeps its place before right-sided anti-EGFR options."""
    a = mcrc.assess(base(course("CAPOX", "2022-03-06", "2022-08-21", "completed", intent="adjuvant"),
                         primary={"location": "ascending_colon"},
                         mets=[liver(found="2026-10-26")]))
    order = [r.code for r in a.regimens]
    assert "oxaliplatin_reexposure" in {c.code for c in a.regimens[order.index("FOLFOX_BEV")].caveats}
    for r in a.regimens:
        if "anti_egfr" in r.drug_classes:
            assert order.index(r.code) > order.index("FOLFOX_BEV"), order


def test_no_hai_nor_cairo5_for_the_unfit() -> None:
    a = mcrc.assess(base(fitness={"fit_for_intensive_therapy": False}, age=82, ecog=2))
    assert not a.codes("local_treatment") & {"hai"} and not {r for r in a.codes("regimens") if r.startswith("HAI")}
    assert not a.codes("evidence") & {"cairo5_right_or_mutant", "cairo5_left_wild_type"}
    fit = mcrc.assess(base())
    assert "hai" in fit.codes("local_treatment") and "cairo5_left_wild_type" in fit.codes("evidence")


def test_no_chemoembolisation_when_disease_is_not_liver_dominant() -> None:
    nodes = {"organ": "distant_lymph_nodes", "count": 1, "largest_size": {"value": 24, "unit": "mm"},
             "found": "2025-01-15", "resectability": "unresectable"}
    a = mcrc.assess(base(mets=[liver(multifocal_stage="late"), nodes]))
    assert not a.codes("local_treatment") & {"tace", "tare", "hai"}
    b = mcrc.assess(base(mets=[liver(multifocal_stage="late")]))
    assert {"tace", "tare"} <= b.codes("local_treatment")


def test_rechallenge_with_ctdna_unknown_is_possible_and_the_test_is_asked() -> None:
    """Benefit and a free line, no ctDNA yet: anti-EGFR is not offered, the rechallenge is listed as possible and the
    ctDNA test is asked for (issue 16: unknown ctDNA leaves it possible, at any line)."""
    a = mcrc.assess(base(course("FOLFIRI_CETUXIMAB", "2024-03-04", "2025-03-03", "progression",
                                progression_date="2025-03-01", best_response="partial"),
                         course("FOLFOX_BEV", "2025-03-17", "2026-09-07", "progression", progression_date="2026-09-01"),
                         **LATER_FIT))
    assert not {r.code for r in a.regimens if "anti_egfr" in r.drug_classes}
    assert "evidence.systemic.rechallenge_ctdna_clear" in {p.row for p in a.possible}
    assert "ctdna_testing" in a.codes("tests") and "anti_egfr_withheld_until_ctdna" in a.codes("warnings")
