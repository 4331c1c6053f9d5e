"""Issue 17: the review of the other sources (`shared/reviews/knowledge-audit-others-2026-12-07.md`), row by row.

Issue 16 fixed most of the review's rows and holds them with the probe cases c1-c14 in
`tests/test_vignettes_history.py` (and c14 in `tests/test_vignettes_evidence.py`); this file adds what those do not
cover: the rows fixed in issue 17 (D3, R11, L25b, D7, the section-5 labels, the anti-EGFR + regorafenib invariant)
and probes for review rows whose issue-16 test was vacuous or missing (E4, E18, C08/C14 the other way round, the
FOLFOX criterion of the curative route after oxaliplatin failure in any setting). Each vignette names its review row;
`docs/decisions/0031-others-review-resolutions.md` lists every row with its status.

The review's base patient: 60 years, ECOG 1, sigmoid primary resected, unresectable liver metastases, KRAS, NRAS and
BRAF wild-type, pMMR, HER2 negative, fit. Histories are schema 2.
"""

from __future__ import annotations

import pytest

import mcrc
from mcrc import SafetyViolation
from mcrc.knowledge import load_knowledge_dir
from mcrc.verify import verify
from tests.kbcopy import kb_copy
from tests.test_vignettes_history import ANTI_EGFR, LATER_FIT, OXALIPLATIN, base, course, liver
from tests.vignettes import V, check, param

ANY = None  # the scope of an add-on row is another table's business

PRIMARY_IN_PLACE = {"primary": {"status": "in_place", "resectability": "resectable", "resected_on": None},
                    "treatment_history": {"procedures": []}}
CONVERSION_FOLFOX_BEV_PROGRESSED = course("FOLFOX_BEV", "2025-02-03", "2025-06-02", "progression", intent="conversion",
                                          progression_date="2025-06-02")


def lung_only(resectability: str, **kw) -> list[dict]:
    return [{"organ": "lung", "count": 3, "largest_size": {"value": 14, "unit": "mm"}, "bilateral": True,
             "zone": "outer", "hilar_mediastinal_nodes": False, "lymphangitic": False, "symptomatic": False,
             "nature_indeterminate": False, "found": "2026-04-14", "resectability": resectability, **kw}]


RECTUM = {"location": "rectum", "distance_from_anal_verge_cm": 8}

VIGNETTES: list[V] = [
    # D3 / L11-L12: asymptomatic primary, lesions not small and accessible, good PS: one-stage surgery is not feasible,
    # and the source's rule for that is liver first; primary first is not offered as an equal option
    V("liver.primary.staged", "d3-not-small-accessible-liver-first",
      base(mets=[liver(count=3, largest_size={"value": 35, "unit": "mm"}, resectability="resectable",
                       small_and_accessible=False, major_resection_needed=False)], **PRIMARY_IN_PLACE),
      must={"local_treatment": "liver_first_resection", "considerations": "simultaneous_small_accessible_only"},
      must_not={"local_treatment": "primary_first_resection simultaneous_primary_liver_resection"},
      not_fired="liver.primary.simultaneous liver.primary.liver_first", goal="ned"),
    # L23 ("with the prognosis item kept"): conversion FOLFOX-bev progressed, salvage FOLFIRI-bev responded, liver now
    # resectable: the bar on going straight to resection lifts, the prognosis of progression on preoperative
    # chemotherapy stays
    V("liver.prognosis.preop_progression", "l23-prognosis-kept-after-salvage-response",
      base(CONVERSION_FOLFOX_BEV_PROGRESSED,
           course("FOLFIRI_BEV", "2025-06-16", "2025-11-03", "planned_surgery", intent="conversion",
                  best_response="partial"),
           mets=[liver(count=5, largest_size={"value": 30, "unit": "mm"}, resectability="resectable")]),
      must={"prognosis": "neoadjuvant_progression"}, must_not={"warnings": "neoadjuvant_progression"},
      not_fired="liver.warnings.neoadjuvant_progression liver.route.neoadjuvant_progression", goal="ned"),
    # L05 / D1 with the primary in place: upfront surgery (the source's "may") and the 3 + 3 route, both shown
    V("liver.route.single_small_primary_in_place", "l05-single-small-primary-in-place",
      base(mets=[liver(count=1, largest_size={"value": 15, "unit": "mm"}, resectability="resectable",
                       small_and_accessible=True, major_resection_needed=False)], **PRIMARY_IN_PLACE),
      steps=["resect_primary_and_liver postoperative_systemic_therapy",
             "preoperative_systemic_therapy resect_primary_and_liver postoperative_systemic_therapy"],
      must={"regimens": "FOLFOX", "considerations": "vanishing_small_lesion"}, goal="ned"),
    # R11: ESMO's lung ablation also when the extent of lung resection limits surgery in a fit patient (lesions the
    # MDT does not judge resectable as they stand), not only for comorbidity or refusal
    V("rectal.lung.esmo_ablation", "r11-fit-potentially-resectable-lung-only",
      base(mets=lung_only("potentially_resectable"), primary=RECTUM), scope=ANY),
    V("rectal.lung.esmo_ablation", "r11-resectable-but-unfit",
      base(mets=lung_only("resectable"), primary=RECTUM, fitness={"fit_for_surgery": False}), scope=ANY),
    # ... but not for twelve bilateral unresectable lesions (beyond the oligometastatic bound used for ESMO)
    V("rectal.lung.nccn_unresectable", "r11-twelve-unresectable-lesions-no-ablation-view",
      base(mets=lung_only("unresectable", count=12), primary=RECTUM), not_fired="rectal.lung.esmo_ablation",
      scope=ANY),
    # section 7, the liver summary's FOLFOX criterion in the curative route: FOLFOX progressed in a palliative line,
    # FOLFIRI-bev since, now one small resectable lesion: neither the single-small nor the 3 + 3 route (both are
    # FOLFOX protocols), no oxaliplatin anywhere
    V("liver.route.chemo_first_primary_resected", "s7-single-small-after-palliative-oxaliplatin-failure",
      base(course("FOLFOX_BEV", "2025-02-03", "2025-08-04", "progression", progression_date="2025-08-01"),
           course("FOLFIRI_BEV", "2025-08-18", "2026-01-05", "planned_surgery", best_response="complete"),
           mets=[liver(count=1, largest_size={"value": 15, "unit": "mm"}, resectability="resectable")]),
      must={"considerations": "oxaliplatin_failed_regimen"}, must_not={"regimens": OXALIPLATIN},
      not_fired="liver.route.single_small_primary_resected liver.route.periop_primary_resected liver.periop.folfox",
      goal="ned"),
    # E4 (and E3): left-sided RAS/BRAF wild-type, progression on conversion FOLFOX-bev: no first-line trial with
    # mFOLFOX6 (c2's check was vacuous: BRAF V600E excludes PARADIGM anyway); irinotecan next
    V("palliative.systemic.after_oxaliplatin_ras_wild_type", "e4-left-wild-type-after-conversion-folfox",
      base(CONVERSION_FOLFOX_BEV_PROGRESSED),
      must={"regimens": "FOLFIRI_CETUXIMAB FOLFIRI"}, must_not={"evidence": "paradigm breakwater cairo5_left_wild_type",
                                                               "regimens": OXALIPLATIN},
      not_fired="evidence.systemic.paradigm_left evidence.liver.cairo5_left_wild_type "
                "liver.conversion.left_wild_type_doublet", scope=ANY),
    # E18 / D10: TRANSMET needs disease control; after progression on the current course it is not shown
    V("palliative.systemic.after_oxaliplatin", "e18-no-transmet-after-progression",
      base(course("FOLFOX_BEV", "2026-01-05", "2026-07-06", "progression", progression_date="2026-07-01"), age=55),
      must={"regimens": "FOLFIRI"}, must_not={"evidence": "transmet"}, not_fired="evidence.liver.transmet",
      scope=ANY),
    # C08 the other way round (C14's row): FOLFIRI-bev completed, progression 2 months later: irinotecan has failed
    # (R1), the oxaliplatin doublets are next; no later-line agent yet
    V("palliative.systemic.after_irinotecan", "c08-progression-two-months-after-completed-folfiri",
      base(course("FOLFIRI_BEV", "2025-02-03", "2025-08-04", "completed", best_response="partial",
                  progression_date="2025-10-01"), biomarkers={"kras": "mutant", "kras_variant": "G12D"}),
      must={"regimens": "FOLFOX CAPOX FOLFOX_BEV", "considerations": "palliative_line_after_irinotecan"},
      must_not={"regimens": "REGORAFENIB TRIFLURIDINE_TIPIRACIL FOLFIRI FOLFIRI_BEV " + ANTI_EGFR}, scope=ANY),
    # D7: the HIPEC strategy rests on the Table 8 statement whose column is uncertain; the route shows it
    V("rectal.peritoneal_route.cytoreduction_low_pci", "d7-hipec-attribution-shown",
      base(mets=[{"organ": "peritoneum", "count": 3, "largest_size": {"value": 20, "unit": "mm"},
                  "found": "2026-04-14", "resectability": "resectable", "pci": 8}],
           primary={"location": "rectum", "distance_from_anal_verge_cm": 12}),
      goal="ned", must={"strategies": "cytoreduction_hipec complete_cytoreduction"}),
]


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)


# ---- citations and labels ---------------------------------------------------------------------------------------
def test_l25b_r1_note_cites_the_critical_warnings() -> None:
    """'Also after an R1 resection' is the liver summary's Critical Warnings, not its Resectable Disease section."""
    a = mcrc.assess(base(mets=[liver(count=2, resectability="resectable")], ned=True, ned_date="2026-06-01",
                         treatment_history={"procedures": [
                             {"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"},
                             {"kind": "liver_resection", "date": "2026-05-20", "margin": "R1"}]}))
    note = next(c for c in a.considerations if c.code == "complete_planned_postop")
    assert ("liver-sync-meta", "Critical Warnings") in {(c.source, c.where) for c in note.citations}
    assert "r1_continue_chemotherapy" in a.codes("warnings")


def test_d7_cytoreduction_strategies_say_the_column_is_uncertain() -> None:
    a = mcrc.assess(VIGNETTES[-1].patient)
    crs = [s for s in a.strategies if s.row == "rectal.peritoneal_route.cytoreduction_low_pci"
           and s.steps[0].code in ("cytoreduction_hipec", "complete_cytoreduction")]
    assert len(crs) == 2
    for s in crs:
        assert s.note and "NCCN" in s.note and "0010" in s.note
        assert ("mcrc-project", "docs/decisions/0010-rectal-table8-columns.md") in {(c.source, c.where)
                                                                                   for c in s.citations}


def test_every_liver_summary_citation_names_a_section_of_the_source() -> None:
    """The four 'Conversion Therapy (pMMR, ...)' citations named no heading of liver-sync-meta."""
    sections = {"Treatment Approach for Synchronous vs Metachronous Liver Metastases",
                "Core Treatment Principles - Resectable Disease",
                "Core Treatment Principles - Unresectable Disease (Conversion Strategy)",
                "Synchronous-Specific Considerations - Primary Tumor Management in Synchronous Disease",
                "Synchronous-Specific Considerations - Surgical Timing Options for Synchronous Disease",
                "Prognostic Considerations - Biological Differences", "Critical Warnings",
                "Recurrent Disease After Prior Liver Resection"}
    kb = mcrc.load_knowledge()
    cites = [c for r in kb.rows.values() for c in r.citations]
    cites += [c for r in kb.rows.values() for items in r.outputs.values() for i in items for c in i.citations]
    cites += [c for inv in kb.invariants for c in inv.citations]
    cites += [c for rule in kb.caveats for c in rule.citations]
    wrong = {c.where for c in cites if c.source == "liver-sync-meta"} - sections
    assert not wrong, wrong


def test_section_5_labels_claim_nothing_the_digest_does_not_say() -> None:
    kb = mcrc.load_knowledge()
    her2 = kb.vocabulary.get("considerations", "her2_positive_not_ihc_3plus").label
    assert "included such tumours" not in her2 and "IHC 3+ only" in her2
    fusions = kb.rows["evidence.tests.fusions"]
    assert "project reading" in (fusions.note or "")
    assert any(c.where.endswith("0031-others-review-resolutions.md") for c in fusions.citations)


# ---- C14: oxaliplatin received (not failed) before the failed irinotecan line -----------------------------------
def test_c14_oxaliplatin_again_after_irinotecan_carries_the_reexposure_caveat() -> None:
    """FOLFOX-bev completed with a response, then FOLFIRI-bev progressed: the source's oxaliplatin step is for
    irinotecan-based *initial* therapy; mcrc offers oxaliplatin again with the re-exposure caveat, and neither
    regorafenib nor trifluridine-tipiracil (oxaliplatin has not failed)."""
    a = mcrc.assess(base(course("FOLFOX_BEV", "2025-02-03", "2025-06-02", "completed", best_response="partial"),
                         course("FOLFIRI_BEV", "2025-06-16", "2026-03-02", "progression",
                                progression_date="2026-03-01"),
                         biomarkers={"kras": "mutant", "kras_variant": "G12D"}, **LATER_FIT))
    ox = [r for r in a.regimens if "oxaliplatin" in r.drug_classes]
    assert ox and all("oxaliplatin_reexposure" in {c.code for c in r.caveats} for r in ox)
    assert not a.codes("regimens") & {"REGORAFENIB", "TRIFLURIDINE_TIPIRACIL"}


# ---- section 7: anti-EGFR never with a VEGF-pathway drug, planted defects ---------------------------------------
PALLIATIVE = "tables/30-cvir-2019-palliative.yaml"
VOCABULARY = "vocabulary.yaml"
REGORAFENIB_ROW = "          regimens: [REGORAFENIB]\n"
COMBINATIONS = [
    pytest.param("CETUXIMAB_REGORAFENIB", "[cetuximab, regorafenib]", "no_anti_egfr_with_multikinase_inhibitor",
                 id="cetuximab-with-regorafenib"),
    pytest.param("CETUXIMAB_FRUQUINTINIB", "[cetuximab, fruquintinib]", "no_anti_egfr_with_vegfr_inhibitor",
                 id="cetuximab-with-fruquintinib"),
    pytest.param("CETUXIMAB_BEVACIZUMAB", "[cetuximab, bevacizumab]", "no_anti_egfr_with_anti_vegf",
                 id="cetuximab-with-bevacizumab"),
]


def _planted(tmp_path, code: str, drugs: str):
    return load_knowledge_dir(kb_copy(tmp_path, [
        (VOCABULARY, "  REGORAFENIB: {label: Regorafenib,",
         f"  {code}: {{label: planted, drugs: {drugs}}}\n  REGORAFENIB: {{label: Regorafenib,"),
        (PALLIATIVE, REGORAFENIB_ROW, f"          regimens: [REGORAFENIB, {code}]\n")]))


@pytest.mark.parametrize(("code", "drugs", "invariant"), COMBINATIONS)
def test_verify_catches_anti_egfr_with_a_vegf_pathway_drug(tmp_path, code, drugs, invariant) -> None:
    report = verify(_planted(tmp_path, code, drugs))
    assert any(f.check == "safety" and f.subject.startswith(f"{invariant}: palliative.systemic.after_both_later_agents")
               for f in report.failures), [(f.check, f.subject) for f in report.failures]


@pytest.mark.parametrize(("code", "drugs", "invariant"), COMBINATIONS)
def test_engine_refuses_anti_egfr_with_a_vegf_pathway_drug(tmp_path, code, drugs, invariant) -> None:
    kb = _planted(tmp_path, code, drugs)
    patient = base(course("FOLFOX_BEV", "2024-06-03", "2025-01-06", "progression", progression_date="2025-01-06"),
                   course("FOLFIRI_BEV", "2025-01-20", "2025-09-01", "progression", progression_date="2025-09-01"),
                   **LATER_FIT)
    with pytest.raises(SafetyViolation) as exc:
        mcrc.assess(patient, kb=kb)
    assert invariant in {v.where for v in exc.value.violations}
