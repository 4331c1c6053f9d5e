"""The board summary (issue 20 item 1, decision record 0037): first in the terminal and Markdown renderings (after an
emergency's first steps), and its items match the Assessment shown: the goal, the recommended strategy, every
alternative, every current-standard option, every assumption, every branch question and every safety warning."""

from __future__ import annotations

import json

import pytest

import mcrc
from mcrc.errors import KnowledgeError
from mcrc.knowledge import load_knowledge, load_knowledge_dir
from mcrc.render import render_markdown, render_text
from mcrc.render.markdown import render_summary_markdown
from mcrc.render.outline import emergency_leads, shown
from mcrc.render.summary import safety_codes
from mcrc.render.text import render_summary_text
from tests.golden_summary_update import GOLDEN, SUMMARY_EXAMPLES, outputs
from tests.golden_update import EXAMPLES, example_paths
from tests.kbcopy import kb_copy

KB = load_knowledge()
STEMS = [p.stem for p in example_paths()]


def assess(stem: str) -> mcrc.Assessment:
    return mcrc.assess(json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8")))


def summary_block(md: str) -> list[str]:
    """The lines of the '## Board summary' section of a Markdown rendering."""
    lines = md.splitlines()
    start = lines.index("## Board summary")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    return lines[start + 1:end]


@pytest.mark.parametrize("stem", SUMMARY_EXAMPLES)
def test_summary_matches_its_golden(stem):
    for target, text in outputs(stem).items():
        assert target.read_text(encoding="utf-8") == text, (
            f"{target.name} is out of date: run `python -m tests.golden_summary_update` and read the diff")


def test_summary_goldens_cover_at_least_six_examples_and_nothing_else():
    assert len(SUMMARY_EXAMPLES) >= 6
    assert {p.name for p in GOLDEN.glob("*.*")} == {f"{s}.{ext}" for s in SUMMARY_EXAMPLES for ext in ("txt", "md")}


@pytest.mark.parametrize("stem", STEMS)
def test_summary_items_match_the_assessment(stem):
    full = assess(stem)
    a = shown(full)
    md = render_markdown(full)
    block = "\n".join(summary_block(md))
    # first, or right after an emergency's first steps
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    assert sections.index("## Board summary") == (1 if emergency_leads(a) else 0)
    assert block.count("- Patient: ") == 1
    if a.goal:
        assert f"- Goal: {a.goal.label}" in block
    if a.strategies:
        first = a.strategies[0]
        assert f"- Recommended: {first.label or ' -> '.join(st.label for st in first.steps)}" in block
        for s in a.strategies[1:]:  # one line each: the strategy's name (its steps are in full below)
            assert f"- Alternative: {s.label} _[" in block
        assert block.count("- Alternative: ") == len(a.strategies) - 1
    for cs in a.current_standard:
        assert f"- Current standard: {cs.option} ({cs.trial}," in block
    assumptions = full.provisional.assumptions if full.provisional else []
    assert block.count("- ASSUMED: ") == len(assumptions)
    for x in assumptions:
        assert f"- ASSUMED: {x.assumed}" in block
    assert block.count("- To settle: ") == len(a.branches)
    for b in a.branches:
        assert f"- To settle: {b.question}" in block
    codes = safety_codes(KB)
    safety = [w for w in a.warnings if w.code in codes]
    for w in safety:
        assert f"- SAFETY: {w.label}" in block
    caveats = {c.code: c for r in a.regimens for c in r.caveats}
    caveats |= {c.code: c for s in a.strategies for st in s.steps for c in st.caveats}
    caveats |= {c.code: c for cs in a.current_standard for c in cs.caveats}
    # a caveat is a safety item when its warning's severity is safety; a caution caveat stays with its options
    safe_caveats = {k for k in caveats if k in codes}
    for k in safe_caveats:
        assert f"- SAFETY: {caveats[k].label}" in block
    for k in set(caveats) - safe_caveats - {w.code for w in a.warnings}:
        assert caveats[k].label not in block
    assert block.count("- SAFETY: ") == len({w.code for w in safety} | safe_caveats)
    # the other warnings are not called safety warnings: they are counted by severity and listed in full below
    others = [w for w in a.warnings if w.code not in codes]
    for w in others:
        assert w.label not in block
    cautions = sum(KB.vocabulary.get("warnings", w.code).severity == "caution" for w in others)
    notes = len(others) - cautions
    if others:
        counted = " and ".join(f"{n} {word}{'s' if n > 1 else ''}" for n, word in ((cautions, "caution"),
                                                                                     (notes, "note")) if n)
        assert f"- Also: {counted} among the warnings" in block


def test_text_and_markdown_show_the_same_summary_items():
    a = assess("65-treated-frail-first-line-unfit-82")
    text = " ".join(render_summary_text(a, width=2000).split())
    for line in summary_block(render_markdown(a)):
        item = line.strip().removeprefix("- ").split(" _[")[0]
        assert " ".join(item.split()) in text


def test_a_safety_rule_stands_apart_from_a_caution():
    """'Never anti-EGFR with anti-VEGF' is a safety warning; 'liquid biopsy not validated' is a caution."""
    a = assess("32-palliative-first-line-left-ras-wild-type")
    block = "\n".join(summary_block(render_markdown(a)))
    assert "- SAFETY: Do not give an anti-EGFR antibody and an anti-VEGF agent together" in block
    assert "anti_egfr_with_anti_vegf_not_recommended" in safety_codes(KB)
    assert "liquid_biopsy_unvalidated" not in safety_codes(KB)


def test_patient_line_says_not_recorded_and_never_guesses():
    a = assess("79-letter-sigmoid-two-right-lung-nodules")
    patient = summary_block(render_markdown(a))[1]
    assert patient.startswith("- Patient: 68 y, male, ECOG 0. Primary: sigmoid colon (left-sided), in place, "
                              "stage not recorded.")
    assert "RAS mutant, BRAF not recorded, MMR not recorded" in patient
    assert "HER2" not in patient  # HER2 only when known
    assert "lung 2 (one lung, largest 12 mm)" in patient
    # the provisional answer's facts: no systemic therapy is presumed (and said so under ASSUMED)
    assert "Prior therapy: no line for metastatic disease" in patient
    strict = summary_block(render_markdown(a, strict=True))
    assert "Prior therapy: not recorded" in strict[1] and not any("ASSUMED" in x for x in strict)


def test_patient_line_carries_the_derived_history():
    a = assess("59-treated-second-line-after-folfox-bev-kras-mutant")
    patient = summary_block(render_markdown(a))[1]
    assert ("Prior therapy: 1 line for metastatic disease; fluoropyrimidine, oxaliplatin failed; refractory to "
            "anti-VEGF; progressing now.") in patient
    assert "Primary: sigmoid colon (left-sided), resected, cT3 cN1" in patient


def test_emergency_first_steps_lead_the_summary():
    a = assess("08-obstructing-sigmoid-emergency")
    text = render_text(a, width=200)
    assert text.index("First, before anything else") < text.index("Board summary") < text.index("Strategies")
    assert "- SAFETY: Manage the emergency complication of the primary before anything else" in \
        render_summary_markdown(a)


def test_referral_without_strategies():
    md = render_summary_markdown(assess("46-colon-peritoneal-only-refer"))
    assert "- Scope: refer to the MDT (no definite route yet): Peritoneal metastases of a colon primary" in md
    assert "- Referral: Refer to the MDT" in md and "Recommended" not in md


def test_loader_refuses_an_unknown_warning_on_a_safety_invariant(tmp_path):
    root = kb_copy(tmp_path, [("safety.yaml", "    warnings: [emergency_first]\n",
                               "    warnings: [emergency_frist]\n")])
    with pytest.raises(KnowledgeError, match="unknown warnings code 'emergency_frist'"):
        load_knowledge_dir(root)
