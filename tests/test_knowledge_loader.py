"""The loader rejects a corrupted knowledge base with file, line and what is allowed."""

import re

import pytest

from mcrc import KnowledgeError, load_knowledge
from mcrc.knowledge import load_knowledge_dir
from tests.kbcopy import LUNG, kb_copy


def problems_of(tmp_path, edits):
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, edits))
    return [str(p) for p in exc.value.problems]


def test_packaged_knowledge_base_loads():
    kb = load_knowledge()
    assert {t.id for t in kb.tables} >= {"scope", "lung.route", "lung.goal", "lung.prognosis"}
    assert all(r.citations for r in kb.rows.values())
    assert re.fullmatch(r"[0-9a-f]{12}", kb.version)


def test_misspelt_fact_names_file_line_and_suggests(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "when: {lymphangitic: true}\n        note: >-\n          This pattern",
                                    "when: {lymphangitc: true}\n        note: >-\n          This pattern")])
    assert len(probs) == 1
    assert re.search(r"tables/10-ccs-lung-2019\.yaml:\d+ .*unknown fact 'lymphangitc'.*allowed: lymphangitic", probs[0])


def test_misspelt_value_lists_the_domain(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "lung_zone: [inner, perivascular]", "lung_zone: [inner, perivasculr]")])
    assert any("'perivasculr' is not a value of fact lung_zone" in p and "outer, middle, inner, perivascular" in p
               for p in probs)


def test_row_without_citation_is_rejected(tmp_path):
    anchor = "          behaviour.\n        cite: {source: ccs-lung-2019, where: Fig. 1, footnote: \"note 3\"}\n"
    probs = problems_of(tmp_path, [(LUNG, anchor, "          behaviour.\n")])
    assert any("row lung.route.non_initial has no citation" in p for p in probs)


def test_unknown_source_in_citation(tmp_path):
    cite = "behaviour.\n        cite: {source: ccs-lung-2019, where: Fig. 1, footnote: \"note 3\"}"
    probs = problems_of(tmp_path, [(LUNG, cite, "behaviour.\n        cite: {source: ccs-lung-2018, where: Fig. 1}")])
    assert any("unknown source 'ccs-lung-2018'" in p for p in probs)


def test_unknown_action_code_suggests_near_codes(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "local: [lymph_node_sampling]", "local: [lymph_node_samplin]")])
    assert any("unknown actions code 'lymph_node_samplin'" in p and "lymph_node_sampling" in p for p in probs)


def test_bad_hit_policy(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "title: Management route (Fig. 1, Tables 2-5)\n    hit: unique",
                                    "title: Management route (Fig. 1, Tables 2-5)\n    hit: first")])
    assert any("bad hit policy 'first'" in p and "allowed: unique, collect" in p for p in probs)


def test_duplicate_row_id(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "id: lung.prognosis.age\n", "id: lung.prognosis.cea\n")])
    assert any("duplicate row id lung.prognosis.cea" in p for p in probs)


def test_unknown_operator_and_comparison_on_enum(tmp_path):
    probs = problems_of(tmp_path, [
        (LUNG, "when: {age: {gt: 70}}", "when: {age: {above: 70}}"),
        (LUNG, "when: {cea_ng_ml: {gt: 5}}", "when: {primary_site: {gt: 5}}"),
    ])
    assert any("unknown operator 'above'" in p for p in probs)
    assert any("comparison needs a numeric fact; primary_site is enum" in p for p in probs)


def test_unknown_output_section_and_row_key(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "then: {prognosis: [older_age]}", "then: {prognoses: [older_age]}")])
    assert any("unknown output section(s): prognoses" in p for p in probs)


def test_yaml_syntax_error_points_at_line(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "then: {prognosis: [older_age]}", "then: {prognosis: [older_age}")])
    assert len(probs) == 1 and re.search(r"10-ccs-lung-2019\.yaml:\d+: not valid YAML", probs[0])


def test_vocabulary_entry_with_unquoted_comma_is_caught(tmp_path):
    probs = problems_of(tmp_path, [("vocabulary.yaml", 'label: "Staged radical local treatment of primary, lung and '
                                    'liver lesions"', "label: Staged radical local treatment of primary, lung and "
                                                      "liver lesions")])
    assert any("vocabulary.yaml" in p and "quote text that contains commas" in p for p in probs)


def test_default_row_may_not_have_a_condition(tmp_path):
    anchor = "        title: No definite route with the facts known\n        default: true"
    probs = problems_of(tmp_path, [(LUNG, anchor, anchor + "\n        when: {age: {gt: 1}}")])
    assert any("a default row has no condition" in p for p in probs)


def test_newer_evidence_rows_cannot_output_guideline_recommendations(tmp_path):
    root = kb_copy(tmp_path, [])
    (root / "tables" / "99-evidence-test.yaml").write_text(
        "source: evidence-2025\n"
        "tables:\n"
        "  - id: ev\n"
        "    title: test\n"
        "    hit: collect\n"
        "    rows:\n"
        "      - id: ev.sneaky\n"
        "        title: an evidence row trying to recommend a regimen\n"
        "        when: {ras: mutant}\n"
        "        cite: {source: evidence-2025, where: item 9}\n"
        "        then: {regimens: [FOLFOX]}\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(root)
    assert any("99-evidence-test.yaml:" in str(p) and "a newer-evidence row may not output regimens" in str(p)
               for p in exc.value.problems)
