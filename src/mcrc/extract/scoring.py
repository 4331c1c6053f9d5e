"""Field-level precision and recall of extraction against expected drafts (tests/extraction/expected.yaml).

A draft is flattened to one entry per field: Patient paths, with a metastatic site named by its organ
(`metastases[liver].count`, `metastases[liver]: present`) and a course by its regimen (`courses[FOLFOX].line`), so
that neither the order of sites nor of courses matters. A field extracted with the expected value is a true
positive; with another value, or not expected at all, a false positive; expected but not extracted (or wrong), a
false negative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BIOMARKERS = "biomarkers."


def flatten(patient: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and {"value", "unit"} != set(value):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = value

    for key, value in patient.items():
        if key == "metastases":
            for site in value:
                organ = site["organ"]
                out[f"metastases[{organ}]"] = "present"
                for k, v in site.items():
                    if k != "organ":
                        walk(f"metastases[{organ}].{k}", v)
        elif key == "treatment_history":
            for course in value.get("courses", []):
                name = course.get("regimen") or "+".join(course.get("drugs") or ["?"])
                for k, v in course.items():
                    if k != "regimen":
                        out[f"courses[{name}].{k}"] = v
        elif key != "schema_version":
            walk(key, value)
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        mm = lambda s: float(s["value"]) * (10 if s["unit"] == "cm" else 1)  # noqa: E731
        return a.get("unit") == b.get("unit") and abs(mm(a) - mm(b)) < 1e-6
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) < 1e-6
    return str(a) == str(b)


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    wrong: list[str] = field(default_factory=list)  # false positives, described
    missed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def group(path: str) -> str:
    """The per-field row of the report: the path without its organ or regimen."""
    import re

    return re.sub(r"\[[^\]]+\]", "[]", path)


def compare(name: str, got: dict[str, Any], expected: dict[str, Any], totals: dict[str, Score]) -> None:
    """Add one report's fields to `totals` (keys: "all", "biomarkers", and each field group)."""
    for path in sorted(set(got) | set(expected)):
        rows = [totals.setdefault("all", Score()), totals.setdefault(group(path), Score())]
        if path.startswith(BIOMARKERS):
            rows.append(totals.setdefault("biomarkers", Score()))
        if path in got and path in expected and _same(got[path], expected[path]):
            for r in rows:
                r.tp += 1
            continue
        if path in got:
            for r in rows:
                r.fp += 1
                r.wrong.append(f"{name}: {path} = {got[path]!r} (expected {expected.get(path, 'nothing')!r})")
        if path in expected:
            for r in rows:
                r.fn += 1
                r.missed.append(f"{name}: {path} = {expected[path]!r}")


def load_corpus(directory: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(file name, kind, text, expected fields) for every report listed in expected.yaml."""
    expected = yaml.safe_load((directory / "expected.yaml").read_text(encoding="utf-8"))
    return [(name, entry["type"], (directory / "reports" / name).read_text(encoding="utf-8"), entry["fields"] or {})
            for name, entry in expected.items()]
