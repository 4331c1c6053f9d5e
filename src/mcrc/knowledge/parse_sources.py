"""The vocabulary and the source register checked: term keys, severities, trial metadata, source kinds,
voices and newer editions."""

from __future__ import annotations

from typing import Any

from mcrc.errors import Problem
from mcrc.knowledge.parse_tables import parse_cites
from mcrc.knowledge.reading import _Collector, read_yaml
from mcrc.vocabulary import SECTIONS as SECTIONS_VOCAB
from mcrc.vocabulary import (
    SEVERITIES,
    TRIAL_META_KEYS,
    Vocabulary,
    check_trial_meta,
)

Path_ = tuple[Any, ...]

VOCAB_KEYS = {"label", "definition", "class", "kind", "drugs", "severity", "variant_of", *TRIAL_META_KEYS}


def _check_vocabulary_data(data: Any, lines: dict[Path_, int], file: str) -> list[Problem]:
    c = _Collector(file, lines)
    if not isinstance(data, dict):
        c.add((), "the vocabulary must be a mapping of sections")
        return c.problems
    for section, entries in data.items():
        if section not in SECTIONS_VOCAB:
            c.add((section,), f"unknown vocabulary section {section!r}", ", ".join(SECTIONS_VOCAB))
            continue
        for code, body in (entries or {}).items():
            if not isinstance(body, dict) or not body.get("label"):
                c.add((section, code), "a vocabulary entry needs a 'label'")
                continue
            extra = set(body) - VOCAB_KEYS
            if extra:
                c.add((section, code), f"unknown key(s) {', '.join(sorted(map(str, extra)))} (quote text that "
                                       "contains commas)", ", ".join(sorted(VOCAB_KEYS)))
            if section == "warnings" and body.get("severity") not in SEVERITIES:
                got = f"got {body['severity']!r}" if "severity" in body else "it has none"
                c.add((section, code), f"warning {code} needs a severity: safety (a rule never to break), caution "
                                       f"(changes what is done) or note (informs); {got}", ", ".join(SEVERITIES))
            elif section != "warnings" and "severity" in body:
                c.add((section, code), "severity belongs to warnings")
            if "variant_of" in body and section != "regimens":
                c.add((section, code), "variant_of belongs to regimens")
            if section == "trials":
                for message in check_trial_meta(str(code), body):
                    c.add((section, code), f"trial {code}: {message}")
            elif set(body) & (set(TRIAL_META_KEYS) - {"regimens"}):
                c.add((section, code), "item, source, status, seen, approval, updated_by and status_history belong "
                                       "to trials")
    return c.problems


def _check_vocabulary(vocab: Vocabulary) -> list[Problem]:
    problems = []
    for code, term in vocab.terms["regimens"].items():
        for d in term.drugs:
            if not vocab.has("drugs", d):
                problems.append(Problem(f"vocabulary.yaml (regimens.{code})", f"unknown drug {d!r}"))
    for code, term in vocab.terms["drugs"].items():
        if not vocab.has("drug_classes", term.klass or ""):
            problems.append(Problem(f"vocabulary.yaml (drugs.{code})", f"unknown drug class {term.klass!r}"))
    for code, term in vocab.terms["trials"].items():
        for r in term.meta.get("regimens", []):
            if not vocab.has("regimens", r):
                problems.append(Problem(f"vocabulary (trials.{code})", f"unknown regimen {r!r}"))
    for code, term in vocab.terms["regimens"].items():
        parent = term.meta.get("variant_of")
        if parent is not None and (not vocab.has("regimens", parent) or parent == code
                                   or vocab.get("regimens", parent).meta.get("variant_of")):
            problems.append(Problem(f"vocabulary (regimens.{code})", f"variant_of {parent!r} must name another "
                                    "regimen that is not itself a variant"))
    for code, term in vocab.terms["actions"].items():
        if not term.klass:
            problems.append(Problem(f"vocabulary.yaml (actions.{code})", "an action needs a class"))
    return problems


SOURCE_KINDS = ("guideline", "evidence", "project")
SOURCE_KEYS = {"title", "publisher", "kind", "files", "voices", "edition", "year", "newer_editions", "currency_note"}
NEWER_KEYS = {"name", "year", "relation", "known", "cite"}
NEWER_RELATIONS = ("edition", "later_guideline")


def parse_sources(text: str, file: str) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """sources.yaml: every citable document, with its kind, edition and year; a guideline's newer editions known
    (each cited to a newer-evidence source: evidence-2026's currency table). Decision record 0033."""
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    sources = (data or {}).get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, dict) or not sources:
        c.add((), "sources.yaml needs a mapping `sources:` of source ids")
        return {}, c.problems
    for sid, body in sources.items():
        p = ("sources", sid)
        if not isinstance(body, dict):
            c.add(p, "a source is a mapping (title, kind, files, ...)")
            continue
        extra = set(body) - SOURCE_KEYS
        if extra:
            c.add(p, f"unknown key(s) {', '.join(sorted(map(str, extra)))}", ", ".join(sorted(SOURCE_KEYS)))
        kind = body.get("kind")
        if kind not in SOURCE_KINDS:
            c.add((*p, "kind"), f"unknown source kind {kind!r}", ", ".join(SOURCE_KINDS))
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            c.add((*p, "title"), "a source needs a title")
        if kind in ("guideline", "evidence"):
            if not isinstance(body.get("edition"), str) or not body["edition"].strip():
                c.add((*p, "edition"), f"a {kind} source states its edition (as the document gives it)")
            if "year" not in body:
                c.add(p, f"a {kind} source states its year (null where the text gives none)")
            elif body["year"] is not None and (not isinstance(body["year"], int) or isinstance(body["year"], bool)
                                               or not 1900 <= body["year"] <= 2100):
                c.add((*p, "year"), f"year {body['year']!r} is not a year", "a year such as 2019, or null")
        newer = body.get("newer_editions")
        if newer is not None and kind != "guideline":
            c.add((*p, "newer_editions"), "only a guideline source lists newer editions")
        elif newer is not None and not isinstance(newer, list):
            c.add((*p, "newer_editions"), "newer_editions is a list")
        note = body.get("currency_note")
        if note is not None and (kind != "guideline" or not isinstance(note, str)):
            c.add((*p, "currency_note"), "currency_note is a guideline source's line of text")
    for sid, body in sources.items():
        if not isinstance(body, dict) or body.get("kind") != "guideline":
            continue
        for i, entry in enumerate(body.get("newer_editions") or [] if isinstance(body.get("newer_editions"), list)
                                  else []):
            p = ("sources", sid, "newer_editions", i)
            if not isinstance(entry, dict) or set(entry) - NEWER_KEYS or not {"name", "year", "relation", "cite"} \
                    <= set(entry):
                c.add(p, "a newer edition has name, year, relation, cite (and optional known)",
                      ", ".join(sorted(NEWER_KEYS)))
                continue
            if not isinstance(entry["name"], str) or not entry["name"].strip():
                c.add((*p, "name"), "a newer edition needs its name")
            if not isinstance(entry["year"], int) or isinstance(entry["year"], bool):
                c.add((*p, "year"), f"year {entry['year']!r} is not a year")
            if entry["relation"] not in NEWER_RELATIONS:
                c.add((*p, "relation"), f"unknown relation {entry['relation']!r}", ", ".join(NEWER_RELATIONS))
            if entry.get("known") is not None and not isinstance(entry["known"], str):
                c.add((*p, "known"), "known is text")
            cites = parse_cites(c, entry["cite"], (*p, "cite"), sources)
            if any((sources.get(ct.source) or {}).get("kind") != "evidence" for ct in cites):
                c.add((*p, "cite"), "a newer edition is cited to a newer-evidence source (its currency table)")
    return sources, c.problems
