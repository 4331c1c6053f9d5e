"""The extraction engine: documents in, a Draft out (a Patient dictionary, provenance, conflicts, unmapped).

Steps: each document goes through one blank spaCy pipeline (medspaCy PyRuSH sentences, target matcher with the fact
rules' patterns, ConText with rules/context.yaml, section detection with rules/sections.yaml); each matched span
becomes candidate values for Patient paths, unless ConText says it is negated (then only a rule's `negated` values),
possible, hypothetical, about the family, or historical where the rule drops the past. Candidates are gathered
over all documents; a path with two different values is a conflict and stays empty; the dictionary is then
validated by the Patient model, and fields the model refuses together are taken out and reported, never guessed.

The steps live in their own modules: `pipeline` (the spaCy pipeline), `reading` (documents to candidates, with
`values` for one value), `assembly` (candidates to one dictionary, conflicts); this module checks the dictionary
against the Patient model and answers the Draft.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from mcrc.errors import InputError
from mcrc.extract.assembly import assemble
from mcrc.extract.documents import Document
from mcrc.extract.pipeline import pipeline
from mcrc.extract.reading import Reading, Source, classify, read_document
from mcrc.extract.rules import load_rules

# `pipeline` and `classify` keep their old import path (bench/bench_extract.py, tests)
__all__ = ["Draft", "classify", "extract", "pipeline"]


@dataclass
class Draft:
    patient: dict[str, Any]
    provenance: dict[str, dict[str, Any]]
    conflicts: list[dict[str, Any]]
    unmapped: list[dict[str, Any]]
    documents: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"patient": self.patient, "provenance": self.provenance, "conflicts": self.conflicts,
                "unmapped": self.unmapped, "documents": self.documents}


# ---------------------------------------------------------------------------------------------------------- checking
def _validate(patient: dict[str, Any], provenance: dict[str, Source], conflicts: list[dict[str, Any]],
              today: dt.date | None) -> dict[str, Any]:
    """Take out the fields the Patient model refuses (each reported as a conflict with the model's message) until it
    accepts the draft."""
    from mcrc.patient import parse_patient

    for _ in range(20):
        if not patient:
            return patient
        try:
            parse_patient({"schema_version": "2", **patient}, today=today)
            return patient
        except InputError as exc:
            removed = False
            for p in exc.problems:
                under = [k for k in provenance if k == p.where or k.startswith((p.where + ".", p.where + "["))]
                if not under:  # a path the draft does not hold as such: take out its whole group
                    top = re.split(r"[.\[]", p.where)[0]
                    under = [k for k in provenance if re.split(r"[.\[]", k)[0] == top]
                named = [k for k in under if re.search(rf"\b{re.escape(k.rsplit('.', 1)[-1])}\b", p.message)]
                for k in named or under:
                    src = provenance.pop(k)
                    conflicts.append({"field": k, "reason": f"refused by the Patient model: {p.message}",
                                      "values": [{"value": _get(patient, k), **src.as_dict()}]})
                    _delete(patient, k)
                    removed = True
            if not removed:
                raise
    return patient


def _get(target: Any, path: str) -> Any:
    for part in re.findall(r"[A-Za-z_][A-Za-z_0-9]*|\[\d+\]", path):
        target = target[int(part[1:-1])] if part.startswith("[") else target.get(part)
        if target is None:
            return None
    return target


def _delete(patient: dict[str, Any], path: str) -> None:
    parts = re.findall(r"[A-Za-z_][A-Za-z_0-9]*|\[\d+\]", path)
    node: Any = patient
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    node.pop(parts[-1], None)
    # empty groups left behind
    for prefix in ("primary", "biomarkers"):
        if prefix in patient and not patient[prefix]:
            del patient[prefix]


def extract(documents: list[Document], today: dt.date | None = None) -> Draft:
    rules = load_rules()
    reading = Reading()
    docs = [read_document(d, i, rules, reading) for i, d in enumerate(documents)]
    patient, provenance, conflicts = assemble(reading.candidates, reading.unmapped)
    patient = _validate(patient, provenance, conflicts, today)
    return Draft(patient=patient, provenance={k: v.as_dict() for k, v in sorted(provenance.items())},
                 conflicts=conflicts, unmapped=reading.unmapped, documents=docs)
