"""Presumptions, provisional answers and branches (issue 19, decision record 0034).

Each presumption kind is used, shown and overridden by an explicit value; the policy refuses forbidden kinds at
load time and in `mcrc verify` (mutation tests); branches agree with the full engine run on each value, and a
fact whose values all give the same answer is not asked.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import mcrc
from mcrc.api.cdshooks import Links, build_cards
from mcrc.errors import KnowledgeError
from mcrc.facts import Facts, derive_facts
from mcrc.facts.catalog import FACTS
from mcrc.fhir.write import careplan
from mcrc.knowledge import load_knowledge_dir
from mcrc.knowledge.expr import Eq
from mcrc.knowledge.presumptions import forbidden, policy_problems
from mcrc.logic import Tri
from mcrc.patient import parse_patient
from mcrc.render import render_json, render_markdown, render_text
from mcrc.verify import verify
from tests.kbcopy import kb_copy

branching = importlib.import_module("mcrc.engine.branches")
ROOT = Path(__file__).resolve().parents[1]
LETTERS = sorted((ROOT / "examples").glob("[789]?-letter-*.json"))


def example(stem: str) -> dict:
    return json.loads((ROOT / "examples" / f"{stem}.json").read_text())


def used(a: mcrc.Assessment) -> list[str]:
    return [x.presumption for x in a.provisional.assumptions] if a.provisional else []


# two nodules in one lung at the staging of a new sigmoid cancer: nothing said about spread, nodes or treatment
LUNG_LETTER = "79-letter-sigmoid-two-right-lung-nodules"


# ---- each kind: used, shown, overridden -----------------------------------------------------------------------
def test_reported_when_present_findings_are_presumed_absent_only_in_the_provisional_answer():
    a = mcrc.assess(example(LUNG_LETTER))
    assert "lymphangitic" not in a.facts and "lung_nodes" not in a.facts  # strict: unknown stays unknown
    assert {"no_lymphangitic_spread", "no_thoracic_nodes"} <= set(used(a))
    p = a.provisional.answer
    assert p.facts["lymphangitic"] is False and p.facts["lung_nodes"] is False
    assert a.goal.code == "mdt_to_decide"
    assert "lymphangitic" in {u.fact for u in a.unknown_facts}
    assert "lymphangitic" not in {u.fact for u in p.unknown_facts}
    shown = next(x for x in a.provisional.assumptions if x.presumption == "no_lymphangitic_spread")
    assert shown.assumed == "no lymphangitic spread (not reported)" and shown.facts == ["lymphangitic"]
    assert shown.citations and shown.citations[0].source == "ccs-lung-2019"


def test_an_explicit_value_always_wins_over_the_presumption():
    data = example(LUNG_LETTER)
    data["metastases"][0]["lymphangitic"] = True
    a = mcrc.assess(data)
    assert "no_lymphangitic_spread" not in used(a)
    assert a.goal.code == "prolong_survival"  # the lung consensus: lymphangitic spread -> disease control
    assert a.shown().facts["lymphangitic"] is True


def test_untreated_new_presentation_counts_no_line_and_makes_the_metastases_synchronous():
    a = mcrc.assess(example(LUNG_LETTER))
    assert "untreated_new_presentation" in used(a)
    assert "lines_received" not in a.facts and "lung_timing" not in a.facts
    p = a.provisional.answer
    assert p.facts["lines_received"] == 0 and p.facts["first_chemotherapy_line"] is True
    assert p.facts["lung_timing"] == "synchronous" and p.facts["dfi_months"] == 0


def test_untreated_presentation_is_not_presumed_after_the_primary_was_resected_or_with_a_recorded_history():
    after_resection = mcrc.assess(example("82-letter-metachronous-single-lung-after-adjuvant-capox"))
    assert "untreated_new_presentation" not in used(after_resection)
    treated = mcrc.assess(example("86-letter-rectal-kras-g12c-lung-after-two-lines"))
    assert "untreated_new_presentation" not in used(treated)
    assert treated.facts["lines_received"] == 2


def test_no_emergency_is_presumed_for_a_primary_in_place_and_a_stated_one_leads():
    quiet = mcrc.assess(example("80-letter-mid-rectum-four-liver-resectable"))
    assert "no_emergency" in used(quiet) and quiet.provisional.answer.facts["emergency"] == "none"
    bleeding = mcrc.assess(example("85-letter-bleeding-sigmoid-liver-metastases"))
    assert "no_emergency" not in used(bleeding)
    assert bleeding.shown().first_steps[0].code.startswith("emergency")


def test_a_presumption_nobody_waits_for_is_not_used():
    # the full sample case states every finding: nothing is presumed, no provisional answer
    a = mcrc.assess(example("02-sync-sigmoid-colon-resectable"))
    assert a.provisional is None and a.shown() is a
    # a reported finding is presumed exactly when a guideline row (not a newer-evidence one) waits for its fact
    kb = mcrc.load_knowledge()
    evidence_tables = {t.id for t in kb.tables if t.evidence}
    reported = [p for p in kb.presumptions if p.kind == "reported_when_present"]
    seen_unused = 0
    for path in LETTERS:
        b = mcrc.assess(json.loads(path.read_text()))
        waiting = {f for r in b.possible if r.table not in evidence_tables for f in r.needs}
        for p in reported:
            if p.check(b.facts | {f: None for f in FACTS if f not in b.facts}) is not Tri.TRUE or \
                    any(f in b.facts for f in p.facts):
                continue  # not applicable: `when` does not hold, or the finding is recorded
            is_used = p.id in used(b)
            assert is_used == bool(set(p.facts) & waiting), (path.stem, p.id)
            seen_unused += not is_used
    assert seen_unused  # some letter leaves a finding unreported that nothing waits for


def test_untreated_primary_in_place_is_synchronous_without_dates():
    """The lung_timing definition: a lesion found before any treatment of the primary began is synchronous; with the
    primary in place and no course given, that holds whenever the lesion was found."""
    kb = mcrc.load_knowledge()
    data = example(LUNG_LETTER)
    data["treatment_history"] = {"courses": []}
    assert derive_facts(parse_patient(data), kb.definitions).values["lung_timing"] == "synchronous"
    del data["treatment_history"]
    assert derive_facts(parse_patient(data), kb.definitions).values["lung_timing"] is None


# ---- renderers ----------------------------------------------------------------------------------------------
def test_text_and_markdown_lead_with_the_provisional_answer_and_its_assumptions():
    a = mcrc.assess(example(LUNG_LETTER))
    text = render_text(a, width=160)
    assert "PROVISIONAL" in text.splitlines()[0]
    head = text.index("PROVISIONAL ANSWER")  # after the board summary (decision record 0037)
    assert text.index("Board summary") < head < text.index("Goal", head) < text.index("To settle at this board")
    assert "assumed: no lymphangitic spread (not reported)" in text
    assert "Strict answer, nothing assumed: refer to the MDT" in text
    strict = render_text(a, width=160, strict=True)
    assert "PROVISIONAL:" not in strict.splitlines()[0] and "Strict answer (nothing assumed)" in strict
    md = render_markdown(a)
    assert md.startswith("# Patient 79-letter-sigmoid-two-right-lung-nodules - PROVISIONAL: ")
    assert "## PROVISIONAL ANSWER" in md and "- assumed: no hilar or mediastinal lymph node metastases" in md
    assert "## To settle at this board: the answer turns on" in md
    assert "1. Are the lung metastases resectable (MDT judgement)?" in md


def test_json_keeps_the_strict_answer_and_carries_the_provisional_one():
    a = mcrc.assess(example(LUNG_LETTER))
    data = json.loads(render_json(a))
    assert data["goal"]["code"] == "mdt_to_decide" and "lymphangitic" not in data["facts"]
    prov = data["provisional"]
    assert [x["presumption"] for x in prov["assumptions"]] == used(a)
    assert prov["answer"]["facts"]["lymphangitic"] is False and prov["answer"]["trace"] == []
    assert prov["answer"]["branches"][0]["fact"] == "lung_resectability"
    assert mcrc.Assessment.model_validate(data).provisional.answer.facts["lung_nodes"] is False


def test_cds_card_and_fhir_careplan_say_provisional_and_list_the_assumptions():
    a = mcrc.assess(example(LUNG_LETTER))
    card = build_cards(a, Links("https://mcrc.example.org"))[0]
    assert card["summary"].startswith("Provisional: ") and len(card["summary"]) < 140
    assert "assumed: no lymphangitic spread (not reported)" in card["detail"]
    assert "**To settle at this board**" in card["detail"]
    plan = careplan(a, "Patient/79")
    assert plan["description"].startswith("PROVISIONAL (assumes: no lymphangitic spread (not reported)")
    notes = [n["text"] for n in plan["note"]]
    assert notes[0].startswith("Provisional answer, assumed: no lymphangitic spread")
    assert any(n.startswith("Strict answer, nothing assumed: refer to the MDT") for n in notes)
    assert any(n.startswith("To settle at this board: Are the lung metastases resectable") for n in notes)


def test_web_page_and_pdf_show_the_provisional_answer_and_the_strict_one_on_request(tmp_path):
    from tests.test_current_standard import signed_in_web

    with signed_in_web(tmp_path, example(LUNG_LETTER)) as web:
        html = web.client.get(f"/cases/{web.case}").text
        assert 'id="provisional"' in html and 'data-presumption="no_lymphangitic_spread"' in html
        assert html.index('id="provisional"') < html.index('class="card scope') < html.index('id="branches"')
        assert 'href="?strict=1"' in html and "Are the lung metastases resectable (MDT judgement)?" in html
        strict = web.client.get(f"/cases/{web.case}?strict=1").text
        assert "Strict answer" in strict and 'data-presumption=' not in strict and 'href="?"' in strict
        pdf = web.client.get(f"/cases/{web.case}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_cli_recommend_shows_the_provisional_answer_and_the_strict_one_with_a_flag(tmp_path):
    path = ROOT / "examples" / f"{LUNG_LETTER}.json"
    run = [sys.executable, "-m", "mcrc.cli", "recommend", str(path)]
    shown = subprocess.run(run, capture_output=True, text=True, timeout=60)
    strict = subprocess.run([*run, "--strict"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == strict.returncode == 0, shown.stderr + strict.stderr
    assert "PROVISIONAL ANSWER" in shown.stdout and "assumed: no lymphangitic spread" in shown.stdout
    assert "PROVISIONAL ANSWER" not in strict.stdout and "Strict answer (nothing assumed)" in strict.stdout


# ---- the policy: refused at load time and by the verifier ----------------------------------------------------
@pytest.mark.parametrize(("fills", "value", "facts", "message"), [
    ("biomarkers.braf", "wild_type", "[braf]", "braf is never presumed: a biomarker"),
    ("fitness.fit_for_surgery", True, "[fit_for_surgery]", "fit_for_surgery is never presumed: fitness"),
    ("preferences.declines_surgery", False, "[declines_surgery]", "never presumed: the patient's wishes"),
    ("metastases[organ=lung].resectability", "resectable", "[lung_resectability]",
     "lung_resectability is never presumed: resectability"),
    ("tumour_burden", "low", "[tumour_burden]", "tumour_burden is never presumed"),
])
def test_loader_refuses_a_presumption_of_a_forbidden_kind(tmp_path, fills, value, facts, message):
    old = "    fills: metastases[organ=lung].lymphangitic\n    value: false\n    facts: [lymphangitic]\n"
    new = f"    fills: {fills}\n    value: {json.dumps(value)}\n    facts: {facts}\n"
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, [("presumptions.yaml", old, new)]))
    assert message in str(exc.value) and "presumptions.yaml:" in str(exc.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("kind: reported_when_present\n    fills: primary.emergency", "kind: likely\n    fills: primary.emergency",
     "kind 'likely' is not allowed"),
    ("    value: none\n", "    value: sometimes\n", "'sometimes' is not a value of fact emergency"),
    ("    facts: [lung_nodes]\n", "    facts: [lymphangitic]\n",
     "lymphangitic is read from metastases[organ=lung].lymphangitic, not from "
     "metastases[organ=lung].hilar_mediastinal_nodes"),
    ("    value: []\n", "    value: [FOLFOX]\n", "fills the course list with []"),
])
def test_loader_refuses_presumptions_that_break_the_policy_in_other_ways(tmp_path, old, new, message):
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, [("presumptions.yaml", old, new)]))
    assert message in str(exc.value)


def test_every_forbidden_kind_of_fact_is_recognised():
    names = {f for f in FACTS if forbidden(f)}
    for must in ("kras", "nras", "ras", "braf", "mmr_status", "her2", "ctdna_clear", "lung_resectability",
                 "liver_resectability", "primary_resectability", "metastases_unresectable", "fit_for_surgery",
                 "fit_for_intensive_therapy", "organ_function_adequate", "declines_surgery",
                 "wishes_organ_preservation", "tumour_burden", "region"):
        assert must in names, must
    for allowed in ("lymphangitic", "lung_nodes", "emergency", "systemic_history_known"):
        assert allowed not in names, allowed


def test_verify_proves_the_presumptions_and_catches_a_forbidden_one_planted_past_the_loader():
    kb = mcrc.load_knowledge()
    report = verify(kb)
    check = next(c for c in report.results if c.name == "presumptions")
    assert not check.failures and check.questions > 100 * len(kb.presumptions)
    planted = dataclasses.replace(kb.presumptions[0], id="presume_kras", fills="biomarkers.kras",
                                  value="wild_type", facts=("kras",))
    assert policy_problems(planted)
    bad = verify(dataclasses.replace(kb, presumptions=(*kb.presumptions, planted)))
    failures = [f for f in bad.failures if f.check == "presumptions"]
    assert {f.subject for f in failures} == {"presume_kras"}
    assert "kras is never presumed: a biomarker" in {f.message for f in failures}


def test_verify_catches_a_presumption_no_patient_can_use():
    kb = mcrc.load_knowledge()
    never = dataclasses.replace(kb.presumptions[0], id="never", when=Eq("lung_mets", False))
    report = verify(dataclasses.replace(kb, presumptions=(never,)))
    assert [f.message for f in report.failures if f.check == "presumptions"] == [
        "no patient the constraints allow can use it"]


# ---- branches -----------------------------------------------------------------------------------------------
def _answer(a: mcrc.Assessment) -> tuple:
    strategies = [s.label or " -> ".join(st.label for st in s.steps) for s in a.strategies]
    return (a.scope.status, a.goal.code if a.goal else None, tuple(dict.fromkeys(strategies)),
            tuple(sorted({r.code for r in a.regimens})))


@pytest.mark.parametrize("path", LETTERS, ids=lambda p: p.stem)
def test_each_branch_outcome_is_what_the_full_engine_answers_for_that_value(path):
    kb = mcrc.load_knowledge()
    a = mcrc.assess(json.loads(path.read_text()))
    shown = a.shown()
    assert len(shown.branches) <= 3
    assert [b.weight for b in shown.branches] == sorted((b.weight for b in shown.branches), reverse=True)
    base = Facts(values={**dict.fromkeys(FACTS), **shown.facts})
    for b in shown.branches:
        assert b.fact not in shown.facts and not b.question.startswith(b.fact)
        answers = set()
        for outcome in b.outcomes:
            for value in outcome.values:
                full = mcrc.assess_facts(Facts(values={**base.values, b.fact: value}), kb, trace=False, branch=False)
                assert (full.goal.label if full.goal else None) == outcome.goal
                assert full.scope.status == outcome.scope
                assert set(outcome.strategies) == {s.label or " -> ".join(st.label for st in s.steps)
                                                   for s in full.strategies}
                answers.add((outcome.summary, tuple(outcome.strategies), tuple(outcome.regimens)))
        assert len(answers) == len(b.outcomes) >= 2  # merged values share one outcome; different ones differ


def test_a_fact_whose_values_all_give_the_same_answer_is_not_asked():
    """Sample 11 has rows waiting on the tumour burden, but either burden gives the same answer: not asked."""
    kb = mcrc.load_knowledge()
    patient = parse_patient(example("11-lung-liver-pelvic-multisite"))
    facts = derive_facts(patient, kb.definitions)
    from mcrc.engine.evaluate import evaluate_rows

    evaluated = evaluate_rows(kb, facts)
    waiting = Counter(f for _, _, res in evaluated for rr in res or () if rr.result is Tri.UNKNOWN
                      and branching._shaping(rr.row) for f in rr.unknown_facts)
    assert "tumour_burden" in waiting
    asked = [b.fact for b in mcrc.assess(patient).branches]
    assert asked and "tumour_burden" not in asked
    answers = set()
    for value in ("low", "high"):
        trial = {**facts.values, "tumour_burden": value}
        assert branching._possible(kb, trial, "tumour_burden")
        answers.add(_answer(mcrc.assess_facts(Facts(values=trial), kb, trace=False, branch=False)))
    assert len(answers) == 1


def test_values_no_patient_can_have_are_not_branched_on():
    """Sample 01 has rows waiting on the irinotecan regimen that worked before surgery, but no preoperative therapy
    was given: every value breaks a constraint, so the fact is not asked (the full engine, fed the impossible
    facts, would list a different regimen for each)."""
    kb = mcrc.load_knowledge()
    patient = parse_patient(example("01-sync-low-rectal-resectable"))
    facts = derive_facts(patient, kb.definitions)
    assert facts.values["preop_irinotecan_effective"] is False
    assert not any(branching._possible(kb, {**facts.values, "preop_irinotecan_regimen": v}, "preop_irinotecan_regimen")
                   for v in FACTS["preop_irinotecan_regimen"].values)
    assert "preop_irinotecan_regimen" not in [b.fact for b in mcrc.assess(patient).branches]


def test_branches_name_the_decisive_unknown_in_clinical_words():
    a = mcrc.assess(example("88-letter-left-colon-lung-single-nodule-resectable"))
    b = a.shown().branches[0]
    assert b.fact == "declines_surgery" and b.question == "Does the patient decline surgery of the metastases?"
    by_value = {v: o for o in b.outcomes for v in o.value_labels}
    assert by_value["yes"].summary.endswith("Non-surgical radical treatment of the lung, primary treated first")
    assert by_value["no"].scope == "in_scope" and by_value["yes"].scope == "in_scope"


def test_branch_false_leaves_them_out_and_changes_nothing_else():
    data = example(LUNG_LETTER)
    with_b, without = mcrc.assess(data), mcrc.assess(data, branch=False)
    assert with_b.shown().branches and not without.shown().branches
    assert with_b.model_dump(exclude={"branches", "provisional"}) == without.model_dump(
        exclude={"branches", "provisional"})


@pytest.mark.parametrize("path", LETTERS, ids=lambda p: p.stem)
def test_sparse_letters_get_an_answer_or_say_what_to_settle(path):
    """Every letter-like sample either gets a strategy (possibly provisional) or names what the board must
    settle; a provisional answer never drops a safety warning the strict answer gives."""
    a = mcrc.assess(json.loads(path.read_text()))
    shown = a.shown()
    assert shown.strategies or shown.branches or shown.referrals
    assert {w.code for w in a.warnings} <= {w.code for w in shown.warnings} | {"lymphangitic_spread"}
