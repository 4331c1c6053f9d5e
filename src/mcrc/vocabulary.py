"""The coded vocabulary: actions, regimens (as drug components), warnings, tests, goals.

Loaded once from `knowledge/data/vocabulary.yaml`. Outputs carry codes from here; safety rules
look at action classes and regimen drug classes, never at display names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

# what a trial term carries besides label and definition (the loader validates each key's shape)
TRIAL_META = ("item", "status", "regimens", "seen", "approval", "updated_by", "status_history")
SECTIONS = ("actions", "regimens", "drugs", "drug_classes", "goals", "warnings", "tests", "prognosis",
            "followup", "considerations", "referrals", "topics", "stances", "trials")


@dataclass(frozen=True)
class Term:
    code: str
    section: str
    label: str
    definition: str | None = None
    klass: str | None = None  # action class, drug class or test kind
    drugs: tuple[str, ...] = field(default_factory=tuple)  # regimens only
    meta: dict = field(default_factory=dict, compare=False)  # trials: the keys of TRIAL_META


@dataclass(frozen=True)
class Vocabulary:
    terms: dict[str, dict[str, Term]]

    def has(self, section: str, code: str) -> bool:
        return code in self.terms.get(section, {})

    def get(self, section: str, code: str) -> Term:
        return self.terms[section][code]

    def codes(self, section: str) -> list[str]:
        return list(self.terms.get(section, {}))

    def regimen_drug_classes(self, code: str) -> set[str]:
        reg = self.terms["regimens"][code]
        return {self.terms["drugs"][d].klass for d in reg.drugs}

    def regimen_of(self, drugs: frozenset[str]) -> str | None:
        """The one regimen code made of exactly these drugs (None when none or several are: FOLFOXIRI and
        FOLFIRINOX share theirs)."""
        found = [code for code, t in self.terms.get("regimens", {}).items() if frozenset(t.drugs) == drugs]
        return found[0] if len(found) == 1 else None

    def find(self, code: str) -> Term | None:
        for section in SECTIONS:
            if code in self.terms.get(section, {}):
                return self.terms[section][code]
        return None


def parse_vocabulary(data: dict) -> Vocabulary:
    terms: dict[str, dict[str, Term]] = {}
    for section in SECTIONS:
        entries = data.get(section) or {}
        terms[section] = {
            code: Term(
                code=code,
                section=section,
                label=str(body.get("label", code)),
                definition=body.get("definition"),
                klass=body.get("class") or body.get("kind"),
                drugs=tuple(body.get("drugs", ())),
                meta={k: body[k] for k in TRIAL_META if k in body},
            )
            for code, body in entries.items()
        }
    return Vocabulary(terms)


def vocabulary_files(data_dir: Path) -> list[Path]:
    """The main vocabulary file, then one per source (`vocabulary-*.yaml`), in name order."""
    return [data_dir / "vocabulary.yaml", *sorted(data_dir.glob("vocabulary-*.yaml"))]


def merge_vocabulary_data(parts: list[tuple[str, dict]]) -> tuple[dict, list[str]]:
    """Merge vocabulary files section by section; a code defined twice is reported, not overwritten."""
    merged: dict[str, dict] = {}
    duplicates: list[str] = []
    for name, data in parts:
        for section, entries in (data or {}).items():
            bucket = merged.setdefault(section, {})
            for code, body in (entries or {}).items():
                if code in bucket:
                    duplicates.append(f"{name}: {section}.{code} is already defined")
                else:
                    bucket[code] = body
    return merged, duplicates


@cache
def load_vocabulary() -> Vocabulary:
    """The packaged vocabulary (all files merged); the knowledge loader validates it in detail."""
    data_dir = Path(str(resources.files("mcrc.knowledge").joinpath("data")))
    parts = [(p.name, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in vocabulary_files(data_dir)]
    return parse_vocabulary(merge_vocabulary_data(parts)[0])
