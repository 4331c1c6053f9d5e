"""Issue 19 item 3 (decision record 0035): inputs real summaries contain, through `mcrc.assess`.

Colon side without a segment, rectal third without a distance, pathological TNM beside clinical, Lynch
syndrome, a second primary cancer. Each vignette would fail if the input were mapped wrongly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import mcrc
from tests.patients import DROP, META, lung, patient
from tests.vignettes import V, check, param

ANY = None
ROOT = Path(__file__).resolve().parents[1]

# a resected primary staged only pathologically (no clinical categories in the summary)
PATH_ONLY = {"primary": {"ct": DROP, "cn": DROP}}


def rectum_third(third: str, **primary) -> dict:
    """A rectal primary given by its third only (no distance), in place and resectable, cT3N1."""
    return {"primary": {"location": "rectum", "rectal_third": third, **primary}}


VIGNETTES: list[V] = [
    # --- colon side without segment: sidedness decides the first-line biologic (liver source) ---------------
    V("palliative.systemic.first_line_left_ras_wild_type", "left-colon-nos-ras-wild-type",
      patient(primary={"location": "left_colon"},
              metastases=[lung(count=9, bilateral=True, resectability="unresectable")]),
      must={"regimens": "FOLFOX_CETUXIMAB"}, not_fired="palliative.systemic.first_line_right_ras_wild_type",
      scope=ANY),
    V("palliative.systemic.first_line_right_ras_wild_type", "right-colon-nos-ras-wild-type",
      patient(primary={"location": "right_colon"},
              metastases=[lung(count=9, bilateral=True, resectability="unresectable")]),
      must={"regimens": "FOLFOX_BEV"}, not_fired="palliative.systemic.first_line_left_ras_wild_type", scope=ANY),
    # --- rectal third without distance: Table 2's route for a middle/lower cT3-4/N+ rectal primary -----------
    V("lung.route.table2_rectal_advanced", "mid-rectum-without-distance",
      patient(rectum_third("middle")), goal="ned", not_fired="lung.route.table2_other"),
    V("lung.route.table2_rectal_advanced", "low-rectum-without-distance",
      patient(rectum_third("lower")), goal="ned", not_fired="lung.route.table2_other"),
    V("lung.route.table2_other", "upper-rectum-without-distance",
      patient(rectum_third("upper")), goal="ned", not_fired="lung.route.table2_rectal_advanced"),
    # --- pathological stage: only the Table 1 prognostic factor reads it --------------------------------------
    V("lung.prognosis.primary_stage", "resected-pt3-pn0-no-clinical-stage",
      patient(META, PATH_ONLY, primary={"pt": "T3", "pn": "N0"}), must={"prognosis": "advanced_primary"}, scope=ANY),
    V("lung.prognosis.primary_stage", "resected-ypt1-ypn1-no-clinical-stage",
      patient(META, PATH_ONLY, primary={"ypt": "T1", "ypn": "N1"}), must={"prognosis": "advanced_primary"},
      scope=ANY),
    # --- Lynch syndrome: a consideration, and the tumour test still asked for ---------------------------------
    V("general.hereditary.lynch", "lynch-with-pmmr-tumour", patient(hereditary_syndrome="lynch"),
      must={"considerations": "lynch_not_covered"}, must_not={"tests": "mmr_msi_testing"},
      not_fired="general.hereditary.lynch_mmr_test"),
    V("general.hereditary.lynch_mmr_test", "lynch-mmr-not-tested",
      patient(hereditary_syndrome="lynch", biomarkers={"mmr": DROP, "msi": DROP}),
      must={"tests": "mmr_msi_testing", "considerations": "lynch_not_covered"}),
    # --- a second primary cancer: out of scope, with the referral, even when a curative route fires ----------
    V("general.second_primary.active_or_recent", "active-breast-cancer-resectable-lung",
      patient(second_primary_cancer="active"), must={"referrals": "out_of_scope",
                                                     "considerations": "second_primary_not_covered"},
      scope="out_of_scope"),
    V("general.second_primary.active_or_recent", "recent-second-cancer", patient(second_primary_cancer="recent"),
      must={"referrals": "out_of_scope"}, scope="out_of_scope"),
]


@pytest.mark.parametrize("v", [param(v) for v in VIGNETTES])
def test_vignette(v: V) -> None:
    check(v)


# --- what the inputs must not do ----------------------------------------------------------------------------
def test_pathological_stage_does_not_set_the_clinical_one() -> None:
    """pT3 of a resected primary leaves locally_advanced (cT/cN) unknown; clinical early stage plus pathological
    advanced stage keep both values."""
    facts = mcrc.derive_facts(mcrc.parse_patient(patient(META, PATH_ONLY, primary={"pt": "T3", "pn": "N1"})))
    assert facts.get("locally_advanced") is None
    assert (facts.get("pt"), facts.get("pn"), facts.get("pathological_advanced")) == ("T3", "N1", True)
    assert facts.get("pathological_after_neoadjuvant") is False
    both = mcrc.derive_facts(mcrc.parse_patient(patient(META, primary={"ct": "T2", "cn": "N0", "pt": "T3"})))
    assert both.get("locally_advanced") is False and both.get("pathological_advanced") is True


def test_early_pathological_stage_is_not_the_prognostic_factor() -> None:
    a = mcrc.assess(patient(META, PATH_ONLY, primary={"pt": "T2", "pn": "N0"}))
    assert "lung.prognosis.primary_stage" not in a.fired_rows()
    assert "advanced_primary" not in a.codes("prognosis")


def test_remote_or_no_second_cancer_changes_nothing() -> None:
    plain = mcrc.assess(patient())
    for value in ("remote", "none"):
        a = mcrc.assess(patient(second_primary_cancer=value))
        assert a.scope.status == plain.scope.status == "in_scope"
        assert a.fired_rows() == plain.fired_rows()


def test_lynch_never_stands_in_for_the_mmr_result() -> None:
    """Lynch syndrome with no tumour MMR/MSI result: mmr_status stays unknown, and no checkpoint inhibitor is
    offered as if the tumour were dMMR (the guideline options are those of an untested tumour)."""
    untested = patient(hereditary_syndrome="lynch", biomarkers={"mmr": DROP, "msi": DROP},
                       metastases=[lung(count=9, bilateral=True, resectability="unresectable")])
    facts = mcrc.derive_facts(mcrc.parse_patient(untested))
    assert facts.get("mmr_status") is None
    a = mcrc.assess(untested)
    without = mcrc.assess(merge_drop(untested, "hereditary_syndrome"))
    assert {r.code for r in a.regimens} == {r.code for r in without.regimens}
    vocab = mcrc.load_knowledge().vocabulary
    checkpoint = {code for code in vocab.codes("regimens")
                  if "checkpoint_inhibitor" in vocab.regimen_drug_classes(code)}
    assert checkpoint, "the vocabulary lists checkpoint-inhibitor regimens"
    assert not checkpoint & {r.code for r in a.regimens}
    assert not checkpoint & {reg for e in a.evidence for reg in e.regimens}
    assert "mmr_status" in {u.fact for u in a.unknown_facts} or "mmr_status" in str(a.possible)


def merge_drop(p: dict, key: str) -> dict:
    return {k: v for k, v in p.items() if k != key}


def _examples() -> list[Path]:
    return sorted((ROOT / "examples").glob("[0-9]*.json"))


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.stem)
def test_a_second_primary_is_never_answered_in_scope(path: Path) -> None:
    """Safety (decision 0035): every example patient, given an active second cancer, is out of scope with the
    referral, whatever curative strategy the colorectal tables propose beside it."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data["second_primary_cancer"] = "active"
    a = mcrc.assess(data)
    assert a.scope.status == "out_of_scope"
    assert "out_of_scope" in {r.code for r in a.referrals}
    assert "general.second_primary.active_or_recent" in a.fired_rows()
