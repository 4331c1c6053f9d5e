"""Golden tests: every sample patient in examples/ still gets exactly the assessment on record.

A failure shows a short diff between the recorded golden (tests/golden/<stem>.json) and the current
output. If the change is intended, run `make golden` and review the golden diff before committing.
"""

from __future__ import annotations

import difflib
import json
from functools import cache

import pytest

import mcrc
from tests.golden_update import GOLDEN, KB_VERSION_PLACEHOLDER, assess_example, example_paths, golden_path, golden_text

MAX_DIFF_LINES = 60
ACCEPT = "run `make golden` to accept intended changes (then review the diff of tests/golden/)"
EXAMPLES = example_paths()


@cache
def assessment(stem: str) -> mcrc.Assessment:
    return assess_example(next(p for p in EXAMPLES if p.stem == stem))


def short_diff(expected: str, actual: str, name: str) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(), actual.splitlines(), fromfile=f"golden/{name}",
                                      tofile="current output", lineterm="", n=2))
    if len(lines) > MAX_DIFF_LINES:
        hidden = len(lines) - MAX_DIFF_LINES
        lines = [*lines[:MAX_DIFF_LINES], f"... ({hidden} more diff lines not shown)"]
    return "\n".join(lines)


def test_there_are_examples():
    assert len(EXAMPLES) >= 14, "examples/ should hold the sample tumor-board cases"


@pytest.mark.parametrize("stem", [p.stem for p in EXAMPLES])
def test_example_matches_golden(stem: str):
    target = GOLDEN / f"{stem}.json"
    if not target.exists():
        pytest.fail(f"no golden file {target.name} for examples/{stem}.json; {ACCEPT}", pytrace=False)
    expected = target.read_text(encoding="utf-8")
    actual = golden_text(assessment(stem))
    if actual != expected:
        pytest.fail(f"examples/{stem}.json no longer gives its golden output:\n"
                    f"{short_diff(expected, actual, target.name)}\n{ACCEPT}", pytrace=False)


def test_goldens_hide_the_kb_version():
    for path in sorted(GOLDEN.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["provenance"]["kb_version"] == KB_VERSION_PLACEHOLDER, f"{path.name}: kb_version not hidden"
        if data.get("provisional"):
            assert data["provisional"]["answer"]["provenance"]["kb_version"] == KB_VERSION_PLACEHOLDER, path.name


def test_every_example_has_a_golden_and_vice_versa():
    examples = {p.stem for p in EXAMPLES}
    goldens = {p.stem for p in GOLDEN.glob("*.json")}
    problems = [f"examples/{s}.json has no golden file" for s in sorted(examples - goldens)]
    problems += [f"tests/golden/{s}.json has no example" for s in sorted(goldens - examples)]
    if problems:
        pytest.fail("\n".join([*problems, ACCEPT]), pytrace=False)


def test_example_ids_match_file_names():
    wrong = {p.name: json.loads(p.read_text(encoding="utf-8")).get("id") for p in EXAMPLES}
    wrong = {name: pid for name, pid in wrong.items() if pid != name.removesuffix(".json")}
    assert not wrong, f"the id of each example must equal its file stem: {wrong}"


def test_golden_path_is_named_after_the_example():
    for p in EXAMPLES:
        assert golden_path(p) == GOLDEN / p.name


def test_examples_fire_every_table():
    tables = {t.id for t in mcrc.load_knowledge().tables}
    fired: dict[str, set[str]] = {}
    for p in EXAMPLES:
        for trace in assessment(p.stem).trace:
            if any(r.result == "fired" for r in trace.rows):
                fired.setdefault(trace.table, set()).add(p.stem)
    never = sorted(tables - fired.keys())
    unknown = sorted(fired.keys() - tables)
    assert not never, f"no example fires a row of these tables: {', '.join(never)}; add a sample case"
    assert not unknown, f"rows fired in tables the knowledge base does not list: {', '.join(unknown)}"
