"""Newer evidence: its safety rules (with the one anti-EGFR exception) and the show/hide setting.

The evidence never changes what the guideline sources are reported to say: with the setting off,
every guideline section of every example is identical.
"""

import json
from pathlib import Path

import pytest

import mcrc
from mcrc.engine.assessment import Assessment, CitationOut, EvidenceItem, Provenance, RegimenItem, Scope
from mcrc.engine.safety import check_safety
from mcrc.facts import Facts

KB = mcrc.load_knowledge()
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.json"))
CITE = [CitationOut(source="evidence-2025", where="item 9")]


def with_regimen(code: str, section: str = "regimens") -> Assessment:
    """A bare Assessment recommending one regimen (the invariants look at drug classes, not rows)."""
    parts = {}
    if section == "regimens":
        term = KB.vocabulary.get("regimens", code)
        parts["regimens"] = [RegimenItem(code=code, label=term.label, citations=CITE, rows=["test"],
                                         drugs=list(term.drugs),
                                         drug_classes=sorted(KB.vocabulary.regimen_drug_classes(code)))]
    else:
        parts["evidence"] = [EvidenceItem(code="test_trial", label="test", citations=CITE, rows=["test"],
                                          regimens=[code])]
    return Assessment.model_construct(
        provenance=Provenance(kb_version="x", engine_version="x", sources=[]), scope=Scope(status="in_scope"),
        **parts)


def violations(code: str, section: str = "regimens", **facts) -> set[str]:
    return {p.where for p in check_safety(KB, with_regimen(code, section), Facts.of(**facts))}


G12C = dict(kras="mutant", ras="mutant", kras_g12c=True)


@pytest.mark.parametrize("section", ["regimens", "evidence"])
def test_anti_egfr_exception_is_kras_g12c_with_its_inhibitor_only(section):
    assert not violations("SOTORASIB_PANITUMUMAB", section, **G12C)
    assert not violations("ADAGRASIB_CETUXIMAB", section, **G12C)
    # the same tumour with an anti-EGFR antibody but no G12C inhibitor: still forbidden
    assert "no_anti_egfr_unless_ras_wild_type" in violations("FOLFOX_PANITUMUMAB", section, **G12C)
    # a G12C inhibitor pair for a KRAS-mutant tumour that is not G12C: forbidden twice over
    other = violations("SOTORASIB_PANITUMUMAB", section, kras="mutant", ras="mutant", kras_g12c=False)
    assert {"no_anti_egfr_unless_ras_wild_type", "kras_g12c_inhibitor_only_g12c"} <= other
    # KRAS variant not known: no exception
    assert "no_anti_egfr_unless_ras_wild_type" in violations("SOTORASIB_PANITUMUMAB", section, kras="mutant",
                                                             ras="mutant")


@pytest.mark.parametrize(("regimen", "allowed", "refused", "invariant"), [
    ("TUCATINIB_TRASTUZUMAB", {"her2": "positive"}, {"her2": "negative"}, "her2_directed_only_her2_positive"),
    ("TRASTUZUMAB_DERUXTECAN", {"her2": "positive"}, {}, "her2_directed_only_her2_positive"),
    ("ENCORAFENIB_CETUXIMAB", {"braf": "v600e", "ras": "wild_type"}, {"braf": "non_v600e", "ras": "wild_type"},
     "braf_inhibitor_only_v600e"),
    ("LAROTRECTINIB", {"ntrk_fusion": True}, {"ntrk_fusion": False}, "trk_inhibitor_only_ntrk_fusion"),
    ("ENTRECTINIB", {"ntrk_fusion": True}, {}, "trk_inhibitor_only_ntrk_fusion"),
    ("SELPERCATINIB", {"ret_fusion": True}, {"ntrk_fusion": True}, "ret_inhibitor_only_ret_fusion"),
    ("PEMBROLIZUMAB", {"mmr_status": "dmmr_msi_h"}, {"mmr_status": "pmmr_mss"}, "checkpoint_only_dmmr"),
    ("PANITUMUMAB", {"ras": "wild_type", "anti_egfr_exposed": True, "ctdna_clear": True},
     {"ras": "wild_type", "anti_egfr_exposed": True, "ctdna_clear": False}, "no_rechallenge_against_ctdna"),
])
def test_targeted_drugs_need_their_target(regimen, allowed, refused, invariant):
    assert invariant not in violations(regimen, **allowed)
    assert invariant in violations(regimen, **refused)
    assert invariant in violations(regimen, "evidence", **refused)


def _guideline_view(a: mcrc.Assessment) -> dict:
    """Everything a guideline source says, leaving out what newer-evidence rows contributed."""
    evidence_rows = {r.id for t in KB.tables if t.evidence for r in t.rows}
    data = a.model_dump(mode="json")
    out = {k: data[k] for k in ("scope", "goal", "first_steps", "strategies", "local_treatment", "regimens",
                                "workup", "prognosis", "followup", "referrals")}
    # a cautionary warning of the newer evidence (ORCHESTRA) stands beside the guideline's own warnings
    out["warnings"] = [i for i in data["warnings"] if set(i["rows"]) - evidence_rows]
    for key in ("tests", "considerations"):
        out[key] = sorted(i["code"] for i in data[key] if set(i["rows"]) - evidence_rows)
    out["positions"] = sorted((t["topic"], v["voice"], v["stance"]) for t in data["positions"] for v in t["views"]
                              if v["row"] not in evidence_rows)
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_hiding_newer_evidence_changes_no_guideline_recommendation(path):
    patient = json.loads(path.read_text())
    shown = mcrc.assess(patient, show_evidence=True)
    hidden = mcrc.assess(patient, show_evidence=False)
    assert shown.provenance.newer_evidence == "shown" and hidden.provenance.newer_evidence == "hidden"
    assert not hidden.evidence
    assert _guideline_view(shown) == _guideline_view(hidden)


def test_deployment_setting_hides_evidence(monkeypatch):
    monkeypatch.setenv("MCRC_SHOW_EVIDENCE", "off")
    a = mcrc.assess(json.loads(EXAMPLES[0].read_text()))
    assert a.provenance.newer_evidence == "hidden"
    monkeypatch.delenv("MCRC_SHOW_EVIDENCE")
    assert mcrc.assess(json.loads(EXAMPLES[0].read_text())).provenance.newer_evidence == "shown"
