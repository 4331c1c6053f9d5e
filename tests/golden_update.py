"""Regenerate the golden outputs: tests/golden/<stem>.json for every examples/<stem>.json.

Run from the project root as `python -m tests.golden_update` (or `make golden`) after an intended
change to the knowledge base, the engine or an example, then review the diff before committing.
`--check` only reports which goldens are out of date and exits 1 if any are.

A golden is `render_json(assess(example))`, trace included, re-indented with 2 spaces, except that
the volatile `provenance.kb_version` (a hash of every knowledge YAML file; also in the provisional
answer's provenance) is replaced by a placeholder, so an edit to the YAML that changes no answer
leaves every golden untouched.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mcrc
from mcrc.render import render_json

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).resolve().parent / "golden"
KB_VERSION_PLACEHOLDER = "<kb-version>"


def example_paths() -> list[Path]:
    return sorted(EXAMPLES.glob("*.json"))


def golden_path(example: Path) -> Path:
    return GOLDEN / f"{example.stem}.json"


def assess_example(example: Path) -> mcrc.Assessment:
    return mcrc.assess(json.loads(example.read_text(encoding="utf-8")))


def golden_data(assessment: mcrc.Assessment) -> dict:
    """The rendered JSON, with the knowledge-base hash replaced by a fixed placeholder."""
    data = json.loads(render_json(assessment))
    data["provenance"]["kb_version"] = KB_VERSION_PLACEHOLDER
    if data.get("provisional"):  # the provisional answer carries the same hash
        data["provisional"]["answer"]["provenance"]["kb_version"] = KB_VERSION_PLACEHOLDER
    return data


def golden_text(assessment: mcrc.Assessment) -> str:
    """What the golden file for this assessment contains (pretty JSON, keys in render order)."""
    return json.dumps(golden_data(assessment), indent=2, ensure_ascii=False) + "\n"


def sync(wanted: dict[Path, str], golden_dir: Path, pattern: str, check: bool, why_stale: str) -> list[str]:
    """Write each wanted golden whose text changed and remove the files of `golden_dir` matching `pattern` that are
    not wanted (`check`: only report); returns the lines saying what changed."""
    golden_dir.mkdir(exist_ok=True)
    changed: list[str] = []
    for target, text in wanted.items():
        old = target.read_text(encoding="utf-8") if target.exists() else None
        if old == text:
            continue
        changed.append(f"{'updated' if old is not None else 'created'} {target.relative_to(ROOT)}")
        if not check:
            target.write_text(text, encoding="utf-8")
    for stale in sorted(set(golden_dir.glob(pattern)) - set(wanted)):
        changed.append(f"removed {stale.relative_to(ROOT)} ({why_stale})")
        if not check:
            stale.unlink()
    for line in changed:
        print(("out of date: " if check else "") + line)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    examples = example_paths()
    changed = sync({golden_path(e): golden_text(assess_example(e)) for e in examples}, GOLDEN, "*.json", check,
                   "no example of that name")
    print(f"{len(examples)} examples, {len(changed)} golden file(s) {'out of date' if check else 'changed'}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
