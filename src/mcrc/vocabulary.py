"""The coded vocabulary: actions, regimens (as drug components), warnings, tests, goals.

Loaded once from `knowledge/data/vocabulary.yaml`. Outputs carry codes from here; safety rules
look at action classes and regimen drug classes, never at display names.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

SECTIONS = ("actions", "regimens", "drugs", "drug_classes", "goals", "warnings", "tests", "prognosis",
            "followup", "considerations", "referrals", "topics", "stances", "trials")


# What a `trials` term may carry besides label and definition (vocabulary-evidence.yaml explains each key;
# `check_trial_meta` validates them at load, docs/decisions/0032-evidence-2026.md records the contract).
TRIAL_META_KEYS = ("item", "source", "status", "regimens", "seen", "approval", "updated_by", "status_history")
SEEN_GRADES = ("regulatory", "abstract", "press", "paper_excerpt", "not_stated")
APPROVAL_KINDS = ("regular", "traditional", "accelerated", "none", "pending")
APPROVED_KINDS = ("regular", "traditional", "accelerated")
DIGESTS = ("evidence-2025", "evidence-2026")
# how heavily a warning weighs, safety first (decision record 0038): a rule never to break (the safety invariants'
# own warnings), a caution that changes what is done, a note that informs
SEVERITIES = ("safety", "caution", "note")
_DATE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


@dataclass(frozen=True)
class Term:
    code: str
    section: str
    label: str
    definition: str | None = None
    klass: str | None = None  # action class, drug class or test kind
    drugs: tuple[str, ...] = field(default_factory=tuple)  # regimens only
    meta: dict = field(default_factory=dict, compare=False)  # trials: TRIAL_META_KEYS; regimens: variant_of
    severity: str | None = None  # warnings only: one of SEVERITIES (decision record 0038)


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
                meta=_meta(body) if section == "trials" else {k: body[k] for k in ("regimens", "variant_of")
                                                              if k in body},
                severity=body.get("severity") if section == "warnings" else None,
            )
            for code, body in entries.items()
        }
    return Vocabulary(terms)


def _date(value: object) -> object:
    """YAML reads an unquoted 2026-02-24 as a date; the meta keeps the ISO text either way."""
    return value.isoformat() if isinstance(value, dt.date) else value


def _meta(body: dict) -> dict:
    meta = {k: body[k] for k in TRIAL_META_KEYS if k in body}
    meta.setdefault("source", "evidence-2025")
    if isinstance(meta.get("approval"), dict):
        meta["approval"] = {k: _date(v) for k, v in meta["approval"].items()}
    if isinstance(meta.get("status_history"), list):
        meta["status_history"] = [{k: _date(v) for k, v in e.items()} if isinstance(e, dict) else e
                                  for e in meta["status_history"]]
    return meta


def _check_date(value: object, where: str) -> list[str]:
    if not isinstance(_date(value), str) or not _DATE.match(str(_date(value))):
        return [f"{where} must be a date YYYY-MM-DD or a month YYYY-MM, got {value!r}"]
    return []


def check_trial_meta(code: str, body: dict) -> list[str]:
    """Problems with a `trials` term's item, source, seen, approval, updated_by and status_history (empty when
    it is well formed). Each message names the key and what is allowed."""
    out: list[str] = []
    item = body.get("item")
    if not isinstance(item, int) or isinstance(item, bool) or item < 1:
        out.append(f"item must be the digest's item number (a positive integer), got {item!r}")
    source = body.get("source", "evidence-2025")
    if source not in DIGESTS:
        out.append(f"source must be one of {', '.join(DIGESTS)} (the digest the item number refers to), got {source!r}")
    if not isinstance(body.get("status"), str) or not body["status"].startswith("US FDA:"):
        out.append("status must be text starting 'US FDA:' (the newest US status with its date)")
    seen = body.get("seen")
    if not isinstance(seen, list) or not seen or not all(isinstance(g, str) for g in seen):
        out.append(f"seen must be a non-empty list of grades ({', '.join(SEEN_GRADES)}), got {seen!r}")
    else:
        bad = [g for g in seen if g not in SEEN_GRADES]
        if bad:
            out.append(f"seen: unknown grade(s) {', '.join(map(repr, bad))}; allowed: {', '.join(SEEN_GRADES)}")
        if "not_stated" in seen and len(seen) > 1:
            out.append("seen: 'not_stated' stands alone")
    approval = body.get("approval")
    if not isinstance(approval, dict):
        out.append("approval must be a mapping {agency: FDA, kind, date, indication}")
    else:
        extra = set(approval) - {"agency", "kind", "date", "indication"}
        if extra:
            out.append(f"approval: unknown key(s) {', '.join(sorted(extra))}; allowed: agency, kind, date, indication")
        if approval.get("agency") != "FDA":
            out.append("approval.agency must be FDA (the digests record US decisions only), "
                       f"got {approval.get('agency')!r}")
        kind = approval.get("kind")
        if kind not in APPROVAL_KINDS:
            out.append(f"approval.kind must be one of {', '.join(APPROVAL_KINDS)}, got {kind!r}")
        if kind != "none":
            out += _check_date(approval.get("date"), "approval.date")
            if not isinstance(approval.get("indication"), str) or not approval["indication"].strip():
                out.append(f"approval.indication (a short paraphrase) is required when kind is {kind}")
        elif "date" in approval:
            out += _check_date(approval.get("date"), "approval.date")
        if kind == "pending":
            if body.get("regimens"):
                out.append("a trial whose US decision is pending lists no regimens: nothing is offered as approved")
            if "pending" not in str(body.get("status", "")).lower():
                out.append("a trial whose US decision is pending says so in its status ('decision pending')")
    updated = body.get("updated_by")
    if updated is not None:
        if not isinstance(updated, dict) or set(updated) != {"source", "item"}:
            out.append("updated_by must be {source: evidence-2026, item: N}")
        else:
            if updated["source"] not in DIGESTS or updated["source"] == source:
                out.append(f"updated_by.source must be a later digest than the item's own ({source}), "
                           f"got {updated['source']!r}")
            if not isinstance(updated["item"], int) or isinstance(updated["item"], bool) or updated["item"] < 1:
                out.append(f"updated_by.item must be a positive integer, got {updated['item']!r}")
    history = body.get("status_history")
    if history is not None:
        if updated is None:
            out.append("status_history belongs to an item updated by a later digest (add updated_by)")
        if not isinstance(history, list) or not history:
            out.append("status_history must be a non-empty list of {status, date, source, item, seen}")
        else:
            for i, e in enumerate(history):
                where = f"status_history[{i}]"
                if not isinstance(e, dict) or set(e) - {"status", "date", "source", "item", "seen"} or \
                        not {"status", "date", "source", "item"} <= set(e):
                    out.append(f"{where} must be {{status, date, source, item}} (and optional seen)")
                    continue
                if not isinstance(e["status"], str) or not e["status"].startswith("US FDA:"):
                    out.append(f"{where}.status must be the earlier status text, starting 'US FDA:'")
                out += _check_date(e["date"], f"{where}.date")
                if e["source"] not in DIGESTS:
                    out.append(f"{where}.source must be one of {', '.join(DIGESTS)}")
                if "seen" in e and (not isinstance(e["seen"], list) or set(e["seen"]) - set(SEEN_GRADES)):
                    out.append(f"{where}.seen must be a list of grades ({', '.join(SEEN_GRADES)})")
    return out


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
    # libyaml's parser where installed (the same data as the pure-Python one, several times faster: a command that
    # assesses one patient reads these files at start-up; tests/test_cli_startup.py compares the two)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    parts = [(p.name, yaml.load(p.read_text(encoding="utf-8"), Loader=loader)) for p in vocabulary_files(data_dir)]
    return parse_vocabulary(merge_vocabulary_data(parts)[0])
