"""The coded vocabulary: actions, regimens (as drug components), warnings, tests, goals.

Loaded once from `knowledge/data/vocabulary.yaml`. Outputs carry codes from here; safety rules
look at action classes and regimen drug classes, never at display names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

SECTIONS = ("actions", "regimens", "drugs", "drug_classes", "goals", "warnings", "tests", "prognosis",
            "followup", "considerations", "referrals")


@dataclass(frozen=True)
class Term:
    code: str
    section: str
    label: str
    definition: str | None = None
    klass: str | None = None  # action class, drug class or test kind
    drugs: tuple[str, ...] = field(default_factory=tuple)  # regimens only


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
            )
            for code, body in entries.items()
        }
    return Vocabulary(terms)


@cache
def load_vocabulary() -> Vocabulary:
    text = resources.files("mcrc.knowledge").joinpath("data/vocabulary.yaml").read_text(encoding="utf-8")
    return parse_vocabulary(yaml.safe_load(text))
