"""Clinical vignettes for evidence-2026 (`shared/sources/006_evidence_update_2026.md`; decision record 0032).

Items 1-5 update evidence-2025 items (BREAKWATER with either fluorouracil backbone, the CheckMate 8HW label, KRAS
G12C and MOUNTAINEER details, TRANSMET's selection): the older trial code keeps its item number and citations, adds
the newer citation, and shows the newer US status with its date; the earlier status is kept in `status_history`.
Items 6-10 are new: STELLAR-303 (US decision pending: shown as a result, never as an option), ORCHESTRA (a warning
beside local treatment on a palliative route with two or more organs), two CSCO editions, AVEX. Every item shows
its "seen" grade. The scope of the immunotherapy items follows their trial population: untreated metastatic
dMMR/MSI-H disease whatever its resectability; the liver summary's immunotherapy-then-surgery route covers
potentially resectable dMMR liver metastases; MMR/MSI testing is asked for on every route while it could change the
answer. Histories are schema 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mcrc
from mcrc.engine.safety import check_safety
from mcrc.errors import KnowledgeError, SafetyViolation
from mcrc.facts import Facts
from mcrc.knowledge import load_knowledge_dir
from mcrc.vocabulary import APPROVAL_KINDS, APPROVED_KINDS, SEEN_GRADES
from tests.kbcopy import kb_copy
from tests.patients import merge
from tests.test_evidence_rules import _guideline_view
from tests.vignettes import KB, V, check, param

ANY = None  # the scope of an add-on row is another table's business
CHECKPOINT = "PEMBROLIZUMAB NIVOLUMAB NIVOLUMAB_IPILIMUMAB"
MSI_FIRST = "keynote_177 checkmate_8hw"
EVIDENCE = "tables/50-evidence-2025.yaml"
VOCAB_EVIDENCE = "vocabulary-evidence.yaml"
TRIALS = KB.vocabulary.terms["trials"]


def liver(resectability: str = "unresectable", **kw) -> dict:
    return {"organ": "liver", "count": 8, "largest_size": {"value": 40, "unit": "mm"}, "found": "2025-01-15",
            "resectability": resectability, **kw}


def lung(resectability: str = "resectable", **kw) -> dict:
    return {"organ": "lung", "count": 2, "largest_size": {"value": 14, "unit": "mm"}, "bilateral": False,
            "zone": "outer", "hilar_mediastinal_nodes": False, "lymphangitic": False, "symptomatic": False,
            "found": "2025-01-15", "resectability": resectability, **kw}


def course(regimen: str, started: str, ended: str | None, stop: str | None, intent: str = "palliative",
           **kw) -> dict:
    out = {"intent": intent, "regimen": regimen, "started": started, "stop_reason": stop, **kw}
    if ended:
        out["ended"] = ended
    return {k: v for k, v in out.items() if v is not None}


def base(*courses: dict, mets: list | None = None, **over) -> dict:
    """Sigmoid primary resected in March 2024, unresectable liver metastases since January 2025, RAS/BRAF
    wild-type, pMMR, HER2 negative, fit; these courses (schema 2)."""
    out = {
        "schema_version": "2", "age": 60, "sex": "female", "ecog": 1,
        "primary": {"location": "sigmoid_colon", "ct": "T3", "cn": "N1", "diagnosed": "2024-02-20",
                    "status": "resected", "resected_on": "2024-03-12", "emergency": "none"},
        "metastases": mets if mets is not None else [liver()],
        "biomarkers": {"kras": "wild_type", "nras": "wild_type", "braf": "wild_type", "mmr": "proficient",
                       "msi": "stable", "her2": "negative", "specimen": "metastasis", "ntrk_fusion": False,
                       "ret_fusion": False},
        "treatment_history": {"courses": list(courses), "radiotherapy": [],
                              "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}]},
        "fitness": {"fit_for_surgery": True, "fit_for_intensive_therapy": True, "adequate_organ_function": True},
        "preferences": {"declines_surgery": False}, "tumour_burden": "high", "region": "europe",
    }
    return merge(out, over) if over else out


DMMR = {"mmr": "deficient", "msi": "msi_high"}
MMR_UNKNOWN = {"mmr": None, "msi": None}
V600E = {"braf": "v600e"}
RIGHT = {"location": "ascending_colon"}
IN_PLACE = {"status": "in_place", "resectability": "resectable", "resected_on": None}
NO_PROCEDURES = {"procedures": []}
LIVER_PR = liver("potentially_resectable", count=6, largest_size={"value": 45, "unit": "mm"})


def pd(regimen: str, started: str, ended: str, **kw) -> dict:
    """A palliative course that ended in progression."""
    return course(regimen, started, ended, "progression", progression_date=ended, **kw)


FOLFOX_BEV_PD = pd("FOLFOX_BEV", "2025-02-03", "2025-09-01", best_response="partial")
FOLFIRI_BEV_PD = pd("FOLFIRI_BEV", "2025-09-15", "2026-05-04", best_response="stable")
LATER = {"ecog": 1, "fitness": {"fit_for_surgery": False, "fit_for_intensive_therapy": True,
                                "adequate_organ_function": True}}
# stable on first-line FOLFOX + panitumumab since June 2026 (more than 3 months: controlled, TRANSMET's selection)
STABLE_ON_FOLFOX_PANI = course("FOLFOX_PANITUMUMAB", "2026-06-01", None, "ongoing", best_response="stable")


VIGNETTES: list[V] = [
    # --- item 2: CheckMate 8HW at any resectability; the liver summary's route for potentially resectable dMMR -------
    V("evidence.msi.first_line", "msi-h-first-line-unresectable-liver",
      base(biomarkers=DMMR, primary=RIGHT),
      must={"evidence": f"{MSI_FIRST} csco_2025"}, scope=ANY),
    V("evidence.msi.first_line_liver", "msi-h-first-line-potentially-resectable-liver",
      base(mets=[LIVER_PR], biomarkers=DMMR, primary=RIGHT),
      must={"evidence": f"{MSI_FIRST} csco_2025", "regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB"},
      must_not={"referrals": "refer_mdt", "evidence": "cairo5_right_or_mutant cairo5_left_wild_type"},
      not_fired="evidence.msi.first_line evidence.msi.first_line_resectable", scope=ANY),
    # the probe of issue 18: dMMR, potentially resectable liver metastasis -> immunotherapy, restaging, resection
    V("liver.route.dmmr_potentially_resectable", "dmmr-potentially-resectable-immunotherapy-then-resection",
      base(mets=[LIVER_PR], biomarkers=DMMR, treatment_history={"courses": []}),
      steps=["immunotherapy reassess_after_systemic resect_or_ablate_liver"], goal="conversion_then_ned",
      must={"regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB", "considerations": "dmmr_immunotherapy_then_local"},
      must_not={"referrals": "refer_mdt"}),
    V("liver.conversion.dmmr_potentially_resectable", "dmmr-potentially-resectable-liver-with-resectable-lung",
      base(mets=[LIVER_PR, lung()], biomarkers=DMMR, primary=IN_PLACE, treatment_history=NO_PROCEDURES),
      must={"regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB", "evidence": MSI_FIRST}, scope=ANY),
    V("liver.tests.mmr", "mmr-unknown-potentially-resectable-liver",
      base(mets=[LIVER_PR], biomarkers=MMR_UNKNOWN), must={"tests": "mmr_msi_testing"},
      possible="liver.route.dmmr_potentially_resectable evidence.msi.first_line_liver", scope=ANY),
    V("evidence.msi.first_line_resectable", "msi-h-first-line-resectable-lung",
      base(mets=[lung(count=1)], biomarkers=DMMR, primary=IN_PLACE, treatment_history=NO_PROCEDURES),
      must={"evidence": f"{MSI_FIRST} csco_2025"},
      not_fired="evidence.msi.first_line evidence.msi.first_line_liver", scope=ANY),
    V("evidence.msi.mmr_testing", "mmr-unknown-resectable-upper-rectal-peritoneal",
      base(mets=[{"organ": "peritoneum", "count": 3, "largest_size": {"value": 15, "unit": "mm"}, "pci": 5,
                  "p_category": "P1", "found": "2025-01-15", "resectability": "resectable"}],
           primary={"location": "rectum", "distance_from_anal_verge_cm": 13}, biomarkers=MMR_UNKNOWN),
      must={"tests": "mmr_msi_testing"}, scope=ANY),
    V("evidence.msi.mmr_testing", "mmr-unknown-ovarian-metastasis-only",
      base(mets=[{"organ": "ovary", "count": 1, "largest_size": {"value": 50, "unit": "mm"}, "found": "2025-01-15",
                  "resectability": "resectable"}], biomarkers=MMR_UNKNOWN),
      must={"tests": "mmr_msi_testing"}, scope=ANY),
    V("evidence.msi.later_line", "msi-h-after-folfox-any-line",
      base(FOLFOX_BEV_PD, biomarkers=DMMR), must={"evidence": "checkmate_8hw"}, must_not={"evidence": "keynote_177"},
      scope=ANY),
    # progression on nivolumab: no checkpoint inhibitor again, no immunotherapy evidence, no MMR test
    V("palliative.systemic.after_immunotherapy", "msi-h-progression-on-nivolumab",
      base(pd("NIVOLUMAB", "2025-02-03", "2025-11-03", best_response="partial"), biomarkers=DMMR),
      must={"regimens": "FOLFOX FOLFIRI", "considerations": "first_chemotherapy_after_immunotherapy"},
      must_not={"regimens": CHECKPOINT, "evidence": MSI_FIRST, "tests": "mmr_msi_testing"},
      not_fired="evidence.msi.first_line evidence.msi.later_line evidence.msi.first_line_liver "
                "palliative.systemic.checkpoint_dmmr", scope=ANY),

    # --- item 1: BREAKWATER with either fluorouracil backbone ----------------------------------------------------
    V("evidence.systemic.braf_v600e_first_line", "v600e-first-line-either-backbone",
      base(biomarkers=V600E, primary={"location": "transverse_colon"}),
      must={"evidence": "breakwater"}, must_not={"evidence": "breakwater_folfiri beacon_crc"},
      not_fired="evidence.systemic.braf_v600e_first_line_folfiri", scope=ANY),
    V("evidence.systemic.braf_v600e_first_line_folfiri", "v600e-relapse-eight-months-after-adjuvant-capox",
      base(course("CAPOX", "2024-04-15", "2024-09-30", "completed", intent="adjuvant"),
           mets=[liver(found="2025-05-26")], biomarkers=V600E),
      must={"evidence": "breakwater_folfiri"}, must_not={"evidence": "breakwater beacon_crc"},
      not_fired="evidence.systemic.braf_v600e_first_line", scope=ANY),

    # --- items 3-4: KRAS G12C and MOUNTAINEER, newer status ----------------------------------------------------
    V("evidence.systemic.kras_g12c_refractory", "g12c-refractory-sotorasib-regular-approval",
      base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, biomarkers={"kras": "mutant", "kras_variant": "G12C"}, **LATER),
      must={"evidence": "codebreak_300 krystal_1 stellar_303"}, scope=ANY),
    V("evidence.systemic.her2_refractory_ras_wild_type", "her2-refractory-mountaineer-final-analysis",
      base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, biomarkers={"her2": "positive", "her2_ihc_score": "3+"}, **LATER),
      must={"evidence": "mountaineer destiny_crc02"}, scope=ANY),

    # --- item 5: TRANSMET only with disease controlled on chemotherapy ------------------------------------------
    V("evidence.liver.transmet", "stable-six-months-on-first-line-transplant-question",
      base(STABLE_ON_FOLFOX_PANI, age=52),
      must={"evidence": "transmet", "considerations": "transmet_stricter_selection"}, scope=ANY),
    V("palliative.liver.hai_after_systemic", "progression-on-current-line-no-transmet",
      base(FOLFOX_BEV_PD, age=52), must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet",
      scope=ANY),
    V("liver.conversion.principles", "responding-but-only-two-months-no-transmet",
      base(course("FOLFOX_PANITUMUMAB", "2026-10-05", None, "ongoing", best_response="partial"), age=52),
      must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet", scope=ANY),
    V("liver.conversion.principles", "primary-in-place-no-transmet",
      base(STABLE_ON_FOLFOX_PANI, age=52, primary=IN_PLACE, treatment_history=NO_PROCEDURES),
      must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet", scope=ANY),

    # --- item 6: STELLAR-303, pending, never an option ----------------------------------------------------------
    V("evidence.systemic.stellar_303", "refractory-pmmr-stellar-pending",
      base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, biomarkers={"kras": "mutant", "kras_variant": "G12D"}, **LATER),
      must={"evidence": "stellar_303 sunlight", "regimens": "REGORAFENIB TRIFLURIDINE_TIPIRACIL"},
      must_not={"regimens": "ZANZALINTINIB_ATEZOLIZUMAB"}, scope=ANY),
    V("evidence.systemic.sunlight", "refractory-dmmr-no-stellar",
      base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, biomarkers={**DMMR, "kras": "mutant", "kras_variant": "G12D"}, **LATER),
      must_not={"evidence": "stellar_303"}, not_fired="evidence.systemic.stellar_303", scope=ANY),
    V("palliative.systemic.after_both_trifluridine_tipiracil", "after-regorafenib-no-stellar",
      base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, pd("REGORAFENIB", "2026-05-18", "2026-09-07"),
           biomarkers={"kras": "mutant", "kras_variant": "G12D"}, **LATER),
      must_not={"evidence": "stellar_303"}, not_fired="evidence.systemic.stellar_303", scope=ANY),
    V("palliative.line.after_oxaliplatin", "second-line-no-stellar", base(FOLFOX_BEV_PD),
      must_not={"evidence": "stellar_303"}, not_fired="evidence.systemic.stellar_303", scope=ANY),

    # --- item 7: ORCHESTRA beside local treatment on a palliative route with two or more organs ------------------
    V("evidence.local.orchestra", "lung-unresectable-liver-resectable-liver-resection-offered",
      base(mets=[lung("unresectable", count=14, bilateral=True, zone=None), liver("resectable", count=2)],
           primary=IN_PLACE, treatment_history=NO_PROCEDURES),
      must={"evidence": "orchestra", "warnings": "orchestra_debulking_no_survival_gain"}, scope=ANY),
    V("evidence.local.orchestra", "liver-dominant-with-lung-nodules-hai-offered",
      base(mets=[liver("unresectable", count=12),
                 lung("unresectable", count=3, largest_size={"value": 6, "unit": "mm"})]),
      must={"warnings": "orchestra_debulking_no_survival_gain"}, scope=ANY),
    V("liver.route.unresectable", "liver-only-unresectable-no-orchestra", base(),
      must_not={"warnings": "orchestra_debulking_no_survival_gain"}, not_fired="evidence.local.orchestra", scope=ANY),
    V("evidence.local.pulmicc", "two-organs-all-resectable-no-orchestra",
      base(mets=[lung(), liver("resectable", count=2)], primary=IN_PLACE, treatment_history=NO_PROCEDURES),
      must_not={"warnings": "orchestra_debulking_no_survival_gain"}, not_fired="evidence.local.orchestra", scope=ANY),

    # --- items 8-9: the newer CSCO editions ---------------------------------------------------------------------
    V("evidence.liver.collision", "small-resectable-liver-csco-2025-ablation",
      base(mets=[liver("resectable", count=2, largest_size={"value": 22, "unit": "mm"}, found="2026-09-14")]),
      must={"evidence": "collision csco_2025"}, scope=ANY),
    V("evidence.systemic.csco_2024_triplet", "right-sided-ras-wild-type-fit-first-line",
      base(primary=RIGHT, age=58), must={"evidence": "csco_2024", "regimens": "FOLFOXIRI_BEV"}, scope=ANY),
    V("evidence.systemic.csco_2024_triplet", "kras-mutant-fit-first-line",
      base(biomarkers={"kras": "mutant", "kras_variant": "G12D"}, age=58), must={"evidence": "csco_2024"}, scope=ANY),
    V("palliative.systemic.first_line_unfit", "unfit-no-csco-triplet",
      base(primary=RIGHT, age=80, fitness={"fit_for_intensive_therapy": False}),
      not_fired="evidence.systemic.csco_2024_triplet", scope=ANY),
    V("evidence.liver.csco_2024_triplet_cetuximab", "left-wild-type-potentially-resectable-liver",
      base(mets=[LIVER_PR]),
      must={"considerations": "csco_2024_folfoxiri_cetuximab_removed", "evidence": "csco_2024",
            "regimens": "FOLFOXIRI_CETUXIMAB"}, scope=ANY),

    # --- item 10: AVEX, the unfit elderly patient ---------------------------------------------------------------
    V("palliative.systemic.first_line_unfit", "unfit-79-first-line-capecitabine-with-or-without-bevacizumab",
      base(age=79, ecog=2, fitness={"fit_for_intensive_therapy": False}),
      must={"regimens": "CAPECITABINE CAPECITABINE_BEV FU_LV FU_LV_BEV", "evidence": "avex",
            "considerations": "palliative_line_first_unfit"},
      must_not={"evidence": "cairo5_left_wild_type"}, not_fired="evidence.systemic.csco_2024_triplet", scope=ANY),
]


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_no_safety_problem_and_guidelines_identical_with_evidence_hidden(v: V) -> None:
    shown = mcrc.assess(v.patient)  # raises SafetyViolation on any breach
    assert check_safety(KB, shown, Facts.of(**shown.facts)) == []
    hidden = mcrc.assess(v.patient, show_evidence=False)
    assert _guideline_view(shown) == _guideline_view(hidden)


def _item(a: mcrc.Assessment, code: str):
    (item,) = [e for e in a.evidence if e.code == code]
    return item


# ------------------------------------------------------------------------------------------------
# The data contract of the trial terms (read by the current-standard feature)
# ------------------------------------------------------------------------------------------------

SEEN_TEXT = {"regulatory": "regulatory", "abstract": "abstract", "press": "press", "paper_excerpt": "part of the paper",
             "not_stated": "not stated in the 2025 digest"}


@pytest.mark.parametrize("code", sorted(TRIALS))
def test_every_trial_term_carries_seen_and_approval(code: str) -> None:
    meta = TRIALS[code].meta
    assert meta["source"] in ("evidence-2025", "evidence-2026")
    assert meta["seen"] and set(meta["seen"]) <= set(SEEN_GRADES)
    assert meta["approval"]["agency"] == "FDA" and meta["approval"]["kind"] in APPROVAL_KINDS
    # the seen grade shows with the item, in its headline
    assert TRIALS[code].definition.endswith(f"Seen: {', '.join(SEEN_TEXT[g] for g in meta['seen'])}.")
    if meta["approval"]["kind"] in APPROVED_KINDS:
        assert meta["approval"]["date"][:4] in meta["status"] or meta["approval"]["date"][:4] in str(
            meta.get("status_history"))
        assert "regulatory" in meta["seen"] or "press" in meta["seen"]


UPDATES = {"breakwater": 1, "checkmate_8hw": 2, "codebreak_300": 3, "krystal_1": 3, "mountaineer": 4, "transmet": 5}


def test_updated_items_keep_their_history_and_show_the_newer_status() -> None:
    updated = {c for c, t in TRIALS.items() if "updated_by" in t.meta}
    assert updated == set(UPDATES)
    for code, item in UPDATES.items():
        meta = TRIALS[code].meta
        assert meta["source"] == "evidence-2025" and meta["updated_by"] == {"source": "evidence-2026", "item": item}
        for old in meta.get("status_history", []):
            assert old["source"] == "evidence-2025" and old["item"] == meta["item"]
            assert old["status"] != meta["status"] and old["date"] <= meta["approval"]["date"]
    bw = TRIALS["breakwater"].meta
    assert bw["approval"] == {"agency": "FDA", "kind": "traditional", "date": "2026-02-24",
                              "indication": bw["approval"]["indication"]}
    assert bw["status_history"][0]["status"].startswith("US FDA: accelerated approval, December 2024")
    assert "ENCORAFENIB_CETUXIMAB_FOLFIRI" in bw["regimens"]
    assert TRIALS["checkmate_8hw"].meta["approval"]["date"] == "2025-04-08"
    assert TRIALS["codebreak_300"].meta["approval"]["kind"] == "regular"
    assert TRIALS["krystal_1"].meta["approval"]["kind"] == "accelerated"
    assert TRIALS["mountaineer"].meta["approval"]["kind"] == "accelerated"


def test_an_updated_item_is_shown_with_the_newer_status_and_both_citations() -> None:
    a = mcrc.assess(base(biomarkers=V600E))
    bw = _item(a, "breakwater")
    assert bw.regulatory_status.startswith("US FDA: traditional approval, 24 February 2026")
    assert {(c.source, c.where) for c in bw.citations} >= {("evidence-2025", "item 3"), ("evidence-2026", "item 1")}
    assert bw.regimens == ["ENCORAFENIB_CETUXIMAB_MFOLFOX6", "ENCORAFENIB_CETUXIMAB_FOLFIRI"]
    assert bw.headline.endswith("Seen: regulatory, press.")
    g12c = mcrc.assess(base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, biomarkers={"kras": "mutant", "kras_variant": "G12C"},
                            **LATER))
    sotorasib = _item(g12c, "codebreak_300")
    assert "regular" in sotorasib.regulatory_status and "960 mg" in sotorasib.regulatory_status
    assert sotorasib.headline.endswith("Seen: press.")
    assert {(c.source, c.where) for c in sotorasib.citations} >= {("evidence-2025", "item 9"),
                                                                   ("evidence-2026", "item 3")}


def test_stellar_303_is_pending_and_never_an_option() -> None:
    meta = TRIALS["stellar_303"].meta
    assert meta["approval"]["kind"] == "pending" and "regimens" not in meta
    assert meta["status"].startswith("US FDA: decision pending or unconfirmed")
    a = mcrc.assess(base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, **LATER))
    item = _item(a, "stellar_303")
    assert item.regimens == [] and item.differs is None and item.note.startswith("Not an approved option")
    assert "zanzalintinib" not in {d for r in a.regimens for d in r.drugs}
    # no row of any source can carry zanzalintinib: the invariant forbids it, `mcrc verify` proves it
    inv = next(i for i in KB.invariants if i.id == "no_drug_awaiting_us_decision")
    assert inv.selector.drug == ("zanzalintinib",) and not inv.selector.sections


def test_orchestra_warning_stands_exactly_beside_palliative_local_treatment_in_multi_organ_disease() -> None:
    """z3 over all consistent patients with two or more organs involved and a site unresectable: every guideline row
    that offers a local treatment of metastases (strategy step or local-treatment item) fires together with the
    ORCHESTRA row, and the ORCHESTRA row fires only where one of them does."""
    import z3

    from mcrc.knowledge.expr import Cmp, Eq
    from mcrc.verify.checks import Verifier

    v = Verifier(KB)
    local = {"local_lung", "local_liver", "local_peritoneal", "liver_directed", "local_palliative"}
    palliative_multi = z3.And(v.enc.true(Cmp("metastatic_organ_count", "ge", 2)),
                              v.enc.true(Eq("metastases_unresectable", True)))
    orchestra = v.fires(KB.rows["evidence.local.orchestra"])
    offering = []
    for row in KB.rows.values():
        if row.id.startswith("evidence."):
            continue
        classes = {KB.vocabulary.get("actions", s.code).klass for st in row.strategies for s in st.steps}
        classes |= {KB.vocabulary.get("actions", i.code).klass for i in row.outputs.get("local", ())}
        if classes & local and v.sat(z3.And(v.fires(row), palliative_multi)):
            offering.append(row)
            assert not v.sat(z3.And(v.fires(row), palliative_multi, z3.Not(orchestra))), row.id
    assert {"lung.route.table4_other_curable_lung_not", "palliative.liver.hai_first_line",
            "lung.palliative.symptomatic"} <= {r.id for r in offering}
    assert not v.sat(z3.And(orchestra, z3.Not(z3.Or([v.fires(r) for r in offering]))))
    # never where the disease is confined to one organ or every site is resectable
    assert not v.sat(z3.And(orchestra, v.enc.true(Cmp("metastatic_organ_count", "le", 1))))
    assert not v.sat(z3.And(orchestra, v.enc.true(Eq("metastases_unresectable", False))))


def test_orchestra_warning_cites_its_item_and_is_hidden_with_the_evidence() -> None:
    p = base(mets=[lung("unresectable", count=14, bilateral=True, zone=None), liver("resectable", count=2)],
             primary=IN_PLACE, treatment_history=NO_PROCEDURES)
    a = mcrc.assess(p)
    (w,) = [w for w in a.warnings if w.code == "orchestra_debulking_no_survival_gain"]
    assert [(c.source, c.where) for c in w.citations] == [("evidence-2026", "item 7")]
    assert a.local_treatment or any(s.action_class.startswith("local") for st in a.strategies for s in st.steps)
    assert "orchestra_debulking_no_survival_gain" not in mcrc.assess(p, show_evidence=False).codes("warnings")


def test_transmet_selection_is_the_trials_and_the_stricter_one_a_note() -> None:
    a = mcrc.assess(base(STABLE_ON_FOLFOX_PANI, age=52))
    item = _item(a, "transmet")
    assert "56.6%" in item.headline and "73.3%" in item.headline
    assert {(c.source, c.where) for c in item.citations} == {("evidence-2025", "item 18"), ("evidence-2026", "item 5")}
    (note,) = [c for c in a.considerations if c.code == "transmet_stricter_selection"]
    assert "not part of them" in note.label
    row = KB.rows["evidence.liver.transmet"]
    assert {"controlled_on_chemotherapy", "progressing", "primary_status"} <= {
        c.fact for c in row.conditions() if hasattr(c, "fact")}


def test_breakwater_folfiri_regimen_is_checked_by_the_safety_rules() -> None:
    term = KB.vocabulary.get("regimens", "ENCORAFENIB_CETUXIMAB_FOLFIRI")
    assert set(term.drugs) == {"encorafenib", "cetuximab", "fluorouracil", "irinotecan"}
    assert KB.vocabulary.regimen_drug_classes("ENCORAFENIB_CETUXIMAB_FOLFIRI") == {
        "braf_inhibitor", "anti_egfr", "fluoropyrimidine", "irinotecan"}


def test_avex_item_checked_against_the_digest() -> None:
    meta = TRIALS["avex"].meta
    assert meta["source"] == "evidence-2026" and meta["item"] == 10 and meta["seen"] == ["abstract"]
    text = TRIALS["avex"].definition
    for figure in ("280", "median 76", "9.1", "5.1", "HR 0.53", "19%", "20.7", "16.8", "40%"):
        assert figure in text, figure


# ------------------------------------------------------------------------------------------------
# The loader validates the contract
# ------------------------------------------------------------------------------------------------

BAD_META = [
    pytest.param("    seen: [abstract, press]\n    approval: {agency: FDA, kind: pending",
                 "    seen: [abstract, rumour]\n    approval: {agency: FDA, kind: pending", "unknown grade(s) 'rumour'",
                 id="unknown-seen-grade"),
    pytest.param("    approval: {agency: FDA, kind: pending,", "    approval: {agency: FDA, kind: maybe,",
                 "approval.kind must be one of", id="unknown-approval-kind"),
    pytest.param('kind: traditional, date: "2026-02-24", indication: "encorafenib + cetuximab with fluorouracil-based '
                 'chemotherapy, previously untreated BRAF V600E metastatic colorectal cancer"}\n    updated_by',
                 'kind: traditional, date: "24.2.2026", indication: "encorafenib + cetuximab with fluorouracil-based '
                 'chemotherapy, previously untreated BRAF V600E metastatic colorectal cancer"}\n    updated_by',
                 "approval.date must be a date YYYY-MM-DD", id="bad-date"),
    pytest.param("    updated_by: {source: evidence-2026, item: 4}", "    updated_by: {source: evidence-2025, item: 4}",
                 "updated_by.source must be a later digest", id="updated-by-its-own-digest"),
    pytest.param('decision date given)"}\n', 'decision date given)"}\n    regimens: [ZANZALINTINIB_ATEZOLIZUMAB]\n',
                 "pending lists no regimens", id="pending-with-a-regimen"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD_META)
def test_loader_rejects_a_malformed_trial_term(tmp_path, old, new, message) -> None:
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, [(VOCAB_EVIDENCE, old, new)]))
    text = str(exc.value)
    assert message in text and "vocabulary-evidence.yaml:" in text


# ------------------------------------------------------------------------------------------------
# Planted defects: the run-time check stops them (the verifier's counterparts are in tests/test_verify.py)
# ------------------------------------------------------------------------------------------------

REFRACTORY = base(FOLFOX_BEV_PD, FOLFIRI_BEV_PD, biomarkers={"kras": "mutant", "kras_variant": "G12D"}, **LATER)
PLANTED = [
    pytest.param([("tables/30-cvir-2019-palliative.yaml", "          regimens: [REGORAFENIB]\n",
                   "          regimens: [REGORAFENIB, ZANZALINTINIB_ATEZOLIZUMAB]\n")],
                 REFRACTORY, {"no_drug_awaiting_us_decision", "checkpoint_only_dmmr"},
                 id="zanzalintinib-offered-as-a-regimen"),
    pytest.param([(EVIDENCE, "          controlled_on_chemotherapy: true\n          progressing: false\n", "")],
                 base(FOLFOX_BEV_PD, age=52), {"transplant_only_when_controlled_on_chemotherapy"},
                 id="transmet-after-progression"),
]


@pytest.mark.parametrize(("edits", "case", "invariants"), PLANTED)
def test_planted_defect_is_stopped(tmp_path, edits, case, invariants) -> None:
    kb = load_knowledge_dir(kb_copy(tmp_path, edits))
    with pytest.raises(SafetyViolation) as exc:
        mcrc.assess(case, kb=kb)
    assert invariants <= {v.where for v in exc.value.violations}
    mcrc.assess(case)  # the shipped knowledge base is safe for the same patient


def test_vignette_names_are_unique() -> None:
    ids = [v.id for v in VIGNETTES]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------------------------
# Examples 71-78: one realistic board case per group of items
# ------------------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).parent.parent / "examples"
EXAMPLE_CASES = [
    ("71-evidence-msi-h-potentially-resectable-liver-immunotherapy",
     {"evidence": f"{MSI_FIRST} csco_2025", "regimens": "PEMBROLIZUMAB NIVOLUMAB_IPILIMUMAB"},
     {"referrals": "refer_mdt"}),
    ("72-evidence-msi-h-first-line-unresectable-lung-and-liver", {"evidence": f"{MSI_FIRST} csco_2025"},
     {"tests": "mmr_msi_testing"}),
    ("73-evidence-braf-v600e-early-relapse-folfiri-backbone", {"evidence": "breakwater_folfiri"},
     {"evidence": "breakwater", "regimens": "FOLFOX CAPOX"}),
    ("74-evidence-msi-h-progression-on-nivolumab-ipilimumab",
     {"regimens": "FOLFOX FOLFIRI", "considerations": "first_chemotherapy_after_immunotherapy"},
     {"regimens": CHECKPOINT, "evidence": f"{MSI_FIRST} csco_2025", "tests": "mmr_msi_testing"}),
    ("75-evidence-refractory-pmmr-stellar-303-pending", {"evidence": "stellar_303 sunlight"},
     {"regimens": "ZANZALINTINIB_ATEZOLIZUMAB"}),
    ("76-evidence-multi-organ-palliative-liver-resection-orchestra",
     {"evidence": "orchestra", "warnings": "orchestra_debulking_no_survival_gain",
      "strategies": "resect_liver_metastases"}, {}),
    ("77-evidence-unfit-elderly-first-line-capecitabine-avex",
     {"evidence": "avex", "regimens": "CAPECITABINE CAPECITABINE_BEV"}, {"evidence": "csco_2025"}),
    ("78-evidence-transmet-right-sided-stable-on-first-line",
     {"evidence": "transmet", "considerations": "transmet_stricter_selection"}, {}),
]


@pytest.mark.parametrize(("stem", "must", "must_not"), EXAMPLE_CASES, ids=[c[0][:2] for c in EXAMPLE_CASES])
def test_example_shows_its_item(stem, must, must_not) -> None:
    a = mcrc.assess(json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8")))
    for section, codes in must.items():
        assert set(codes.split()) <= a.codes(section), (section, sorted(set(codes.split()) - a.codes(section)))
    for section, codes in must_not.items():
        assert not set(codes.split()) & a.codes(section), (section, set(codes.split()) & a.codes(section))


def test_examples_71_to_78_exist() -> None:
    assert [p.stem[:2] for p in sorted(EXAMPLES.glob("7[1-8]-evidence-*.json"))] == [str(n) for n in range(71, 79)]
