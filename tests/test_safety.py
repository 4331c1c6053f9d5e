"""Safety invariants of DESIGN.md that the lung consensus touches.

Each invariant is tested twice: the real knowledge base respects it for a patient where it matters,
and a copy of the knowledge base with a planted defect is stopped by the run-time check (so the
test fails if either the rule or the check is broken).
"""

import copy

import pytest

from mcrc import SafetyViolation, assess
from mcrc.errors import HitPolicyViolation
from mcrc.knowledge import load_knowledge_dir
from tests.kbcopy import LUNG, kb_copy

BASE = {
    "id": "safety",
    "age": 60, "sex": "female", "ecog": 0,
    "primary": {"location": "sigmoid_colon", "ct": "T3", "cn": "N1", "status": "in_place",
                "resectability": "resectable", "emergency": "none"},
    "metastases": [{"organ": "lung", "count": 1, "largest_size": {"value": 12, "unit": "mm"}, "zone": "outer",
                    "hilar_mediastinal_nodes": False, "lymphangitic": False, "timing": "synchronous",
                    "resectability": "resectable", "symptomatic": False}],
    "biomarkers": {"kras": "wild_type", "nras": "wild_type", "braf": "wild_type", "mmr": "proficient",
                   "her2": "negative", "specimen": "metastasis"},
    "treatment_history": {"courses": [], "procedures": []},
    "fitness": {"fit_for_surgery": True},
    "preferences": {"declines_surgery": False, "wishes_organ_preservation": False},
}


def patient(**changes):
    p = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = p
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value
    return p


def lymphangitic():
    return patient(metastases__0__lymphangitic=True, metastases__0__count=None)


def emergency():
    return patient(primary__emergency="bleeding")


def early_failure():
    return patient(
        primary__status="resected", primary__resected_on="2025-01-10", primary__resectability=None,
        primary__emergency="none", metastases__0__timing="metachronous", metastases__0__found="2025-10-01",
        treatment_history={"courses": [{"setting": "adjuvant", "regimen": "CAPOX", "started": "2025-02-01",
                                        "ended": "2025-07-15"}], "procedures": [{"kind": "primary_resection"}]},
    )


def later_line(irinotecan_outcome="progression", second="FOLFIRI"):
    return patient(
        metastases__0__resectability="unresectable", metastases__0__count=6, metastases__0__zone=None,
        metastases__0__largest_size={"value": 25, "unit": "mm"},
        treatment_history={"courses": [
            {"setting": "palliative", "line": 1, "regimen": "FOLFOX", "started": "2025-01-01",
             "outcome": "progression"},
            {"setting": "palliative", "line": 2, "regimen": second, "started": "2025-08-01",
             "outcome": irinotecan_outcome}], "procedures": []},
    )


def neoadjuvant_progression():
    return patient(treatment_history={"courses": [{"setting": "neoadjuvant", "regimen": "FOLFOX",
                                                    "started": "2026-06-01", "outcome": "progression"}]})


def classes_in(a, sections=("strategies", "local_treatment", "first_steps")):
    vocab_actions = {s.code: s.action_class for st in a.strategies for s in st.steps}
    out = set()
    if "strategies" in sections:
        out |= set(vocab_actions.values())
    from mcrc import load_knowledge

    vocab = load_knowledge().vocabulary
    for name in ("local_treatment", "first_steps"):
        if name in sections:
            out |= {vocab.get("actions", i.code).klass for i in getattr(a, name)}
    return out


# --- the real knowledge base respects each invariant --------------------------------------------

def test_lymphangitic_gets_systemic_only_and_no_local_lung_treatment():
    a = assess(lymphangitic())
    assert "lung.route.lymphangitic" in a.fired_rows()
    assert "local_lung" not in classes_in(a)
    assert {"no_local_lung_treatment", "lymphangitic_poor_outcome"} <= a.codes("warnings")
    assert a.goal.code == "prolong_survival"


def test_emergency_is_handled_first():
    a = assess(emergency())
    assert a.first_steps and a.first_steps[0].code == "emergency_resection"
    assert {"emergency_resection", "emergency_colostomy"} <= a.codes("first_steps")
    assert "emergency_stent" not in a.codes(), "a stent does not treat bleeding"
    assert "emergency_first" in a.codes("warnings")
    assert "emergency_stent" in assess(patient(primary__emergency="obstruction")).codes("first_steps")


def test_no_stent_for_middle_or_lower_rectal_primary():
    low = patient(primary__emergency="obstruction", primary__location="rectum",
                  primary__distance_from_anal_verge_cm=5)
    assert "emergency_stent" not in assess(low).codes()
    high = patient(primary__emergency="obstruction", primary__location="rectum",
                   primary__distance_from_anal_verge_cm=12)
    assert "emergency_stent" in assess(high).codes("first_steps")


def test_perioperative_total_never_exceeds_six_months():
    for p in (BASE, early_failure(), patient(metastases=[BASE["metastases"][0], {
            "organ": "liver", "count": 2, "resectability": "resectable"}])):
        for s in assess(p).strategies:
            total = sum(st.months or st.max_months or 0 for st in s.steps if st.action_class == "perioperative")
            assert total <= 6, s.id


def test_no_perioperative_oxaliplatin_after_early_adjuvant_failure():
    a = assess(early_failure())
    assert a.facts["adjuvant_oxaliplatin_failure_12m"] is True
    assert "lung.route.metachronous_resectable" in a.fired_rows()
    assert not {"FOLFOX", "CAPOX"} & a.codes()
    assert "FOLFIRI" in a.codes("regimens")
    assert "no_periop_oxaliplatin" in a.codes("warnings")


def test_regorafenib_only_after_oxaliplatin_and_irinotecan_failed():
    assert "REGORAFENIB" in assess(later_line()).codes("regimens")
    assert "REGORAFENIB" not in assess(later_line(irinotecan_outcome="stable")).codes()
    # two failed lines, but both oxaliplatin-based: irinotecan has not failed
    a = assess(later_line(second="CAPOX"))
    assert a.facts["lines_failed"] == 2 and a.facts["irinotecan_failed"] is False
    assert "REGORAFENIB" not in a.codes()


def test_no_resection_straight_after_neoadjuvant_progression():
    a = assess(neoadjuvant_progression())
    assert not {"local_lung", "surgery_primary", "local_liver"} & classes_in(a, ("strategies", "local_treatment"))
    assert "neoadjuvant_progression" in a.codes("warnings")


# --- planted defects are caught by the run-time check ------------------------------------------

PLANTED = [
    pytest.param(
        [(LUNG, "              steps: [systemic_therapy]\n          warnings: [lymphangitic_poor_outcome",
          "              steps: [systemic_therapy, lung_sbrt]\n          warnings: [lymphangitic_poor_outcome")],
        lymphangitic, "no_local_lung_in_lymphangitic", id="local-lung-in-lymphangitic"),
    pytest.param(
        [(LUNG, "          first: [emergency_resection, emergency_colostomy]\n", ""),
         (LUNG, "          first: [emergency_stent]\n", "          warnings: [emergency_first]\n")],
        emergency, "emergency_first", id="emergency-not-first"),
    pytest.param(
        [(LUNG, "postoperative_systemic_therapy, max_months: 6, less_months_of",
          "postoperative_systemic_therapy, max_months: 9, less_months_of")],
        early_failure, "periop_max_6_months", id="periop-9-months"),
    pytest.param(
        [(LUNG, "          regimens: [FOLFIRI]\n          warnings: [no_periop_oxaliplatin]",
          "          regimens: [FOLFOX]\n          warnings: [no_periop_oxaliplatin]")],
        early_failure, "no_periop_oxaliplatin_after_early_failure", id="oxaliplatin-after-early-failure"),
    pytest.param(
        [(LUNG, "          oxaliplatin_failed: true\n          irinotecan_failed: true\n", "")],
        lambda: later_line(second="CAPOX"), "later_line_agents_after_ox_and_iri", id="regorafenib-too-early"),
    pytest.param(
        [(LUNG, "      extrapulmonary_resectability: [none, resectable]\n      neoadjuvant_progression: false\n",
          "      extrapulmonary_resectability: [none, resectable]\n")],
        neoadjuvant_progression, "no_resection_after_neoadjuvant_progression", id="resection-after-progression"),
]


PLANTED.append(pytest.param(
    [(LUNG, "          emergency: obstruction\n          any: [{primary_site: colon}, {rectal_height: upper}]",
      "          emergency: obstruction")],
    lambda: patient(primary__emergency="obstruction", primary__location="rectum",
                    primary__distance_from_anal_verge_cm=5),
    "no_stent_middle_lower_rectum", id="stent-low-rectum"))


@pytest.mark.parametrize(("edits", "make_patient", "invariant"), PLANTED)
def test_planted_defect_is_stopped(tmp_path, edits, make_patient, invariant):
    kb = load_knowledge_dir(kb_copy(tmp_path, edits))
    with pytest.raises(SafetyViolation) as exc:
        assess(make_patient(), kb=kb)
    assert invariant in {v.where for v in exc.value.violations}


def test_two_rows_of_a_unique_table_firing_is_an_error(tmp_path):
    anchor = "title: At least one metastatic site judged unresectable\n        when:\n          lymphangitic: false\n" \
             "          any:"
    kb = load_knowledge_dir(kb_copy(tmp_path, [(LUNG, anchor, anchor + "\n            - {age: {gt: 50}}")]))
    with pytest.raises(HitPolicyViolation) as exc:
        assess(BASE, kb=kb)
    assert exc.value.table_id == "lung.goal"
    assert set(exc.value.row_ids) == {"lung.goal.curable", "lung.goal.incurable"}


def test_two_goals_from_different_tables_is_an_error(tmp_path):
    anchor = "        title: Every patient with lung metastases\n        when: {}\n"
    kb = load_knowledge_dir(kb_copy(tmp_path, [(LUNG, anchor + "        cite: {source: ccs-lung-2019, where: "
                                                "General guidelines for multidisciplinary therapy}\n        then:\n",
                                                anchor + "        cite: {source: ccs-lung-2019, where: "
                                                "General guidelines for multidisciplinary therapy}\n        then:\n"
                                                "          goal: prolong_survival\n")]))
    with pytest.raises(HitPolicyViolation) as exc:
        assess(BASE, kb=kb)
    assert exc.value.table_id == "goal (across tables)"
    assert set(exc.value.row_ids) == {"lung.goal.curable", "lung.mdt.comprehensive"}
