"""Gathering the candidates of all documents into one Patient dictionary: a path with two different values is a
conflict and stays empty; MMR from its proteins, one largest size per document, courses merged across reports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from mcrc.extract.reading import Candidate, Source
from mcrc.extract.rules import load_rules


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict) and "unit" in a and "unit" in b:
        return abs(_mm(a) - _mm(b)) < 1e-6
    return a == b


def _mm(size: dict[str, Any]) -> float:
    return size["value"] * (10 if size["unit"] == "cm" else 1)


def _distinct(cands: list[Candidate]) -> list[Candidate]:
    out: list[Candidate] = []
    for c in cands:
        if not any(_same(c.value, o.value) for o in out):
            out.append(c)
    return out


def _conflict(path: str, cands: list[Candidate], reason: str) -> dict[str, Any]:
    return {"field": path, "reason": reason,
            "values": [{"value": c.value, **c.source.as_dict()} for c in cands]}


def _sizes(cands: list[Candidate]) -> list[Candidate]:
    """One largest size per document: an explicit 'largest/up to' size, else the largest size measured (inferred)."""
    out = []
    for name in dict.fromkeys(c.source.document for c in cands):
        mine = [c for c in cands if c.source.document == name]
        explicit = [c for c in mine if c.role != "size_candidate"]
        if explicit:
            out.extend(explicit)
        else:
            best = max(mine, key=lambda c: _mm(c.value))
            out.append(best)
    return out


def _mmr(cands: list[Candidate], conflicts: list[dict[str, Any]]) -> list[Candidate]:
    """biomarkers.mmr from the four proteins: any lost -> deficient; all four retained -> proficient (inferred)."""
    proteins: dict[str, list[Candidate]] = {}
    for c in cands:
        proteins.setdefault(c.key, []).append(c)
    state: dict[str, Candidate] = {}
    for key, cs in proteins.items():
        values = _distinct(cs)
        if len(values) > 1:
            conflicts.append(_conflict(f"biomarkers.mmr ({key.split('.')[1].upper()})", values,
                                       "the reports disagree on this protein"))
            return []
        state[key] = values[0]
    lost = [c for c in state.values() if c.value == "lost"]
    first = lost[0] if lost else (next(iter(state.values())) if state else None)
    if first is None:
        return []
    if lost:
        return [Candidate("biomarkers.mmr", "deficient", _inferred(first.source))]
    if len(state) == 4:
        return [Candidate("biomarkers.mmr", "proficient", _inferred(first.source))]
    return []


def _rule_yields(rule_id: str, key: str) -> tuple[Any, ...]:
    rule = load_rules().by_id.get(rule_id)
    return rule.yields_to.get(key, ()) if rule is not None else ()


def _inferred(s: Source) -> Source:
    return Source(s.document, s.start, s.end, s.sentence, "inferred", s.rule, s.text)


def _set_path(target: dict[str, Any], path: str, value: Any) -> None:
    parts = re.findall(r"[A-Za-z_][A-Za-z_0-9]*|\[\d+\]", path)
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        nxt = parts[i + 1] if not last else None
        if part.startswith("["):
            idx = int(part[1:-1])
            while len(node) <= idx:
                node.append({})
            if last:
                node[idx] = value
            else:
                node = node[idx]
        else:
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, [] if nxt and nxt.startswith("[") else {})


def _leaves(prefix: str, value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(f"{prefix}.{k}", v)
    else:
        yield prefix


def assemble(candidates: list[Candidate], unmapped: list[dict[str, Any]]
             ) -> tuple[dict[str, Any], dict[str, Source], list[dict[str, Any]]]:
    conflicts: list[dict[str, Any]] = []
    by_key: dict[str, list[Candidate]] = {}
    for c in candidates:
        by_key.setdefault(c.key, []).append(c)
    mmr = [c for k, cs in by_key.items() if k.startswith("_mmr.") for c in cs]
    for k in [k for k in by_key if k.startswith("_mmr.")]:
        del by_key[k]
    if mmr:
        derived = _mmr(mmr, conflicts)
        if derived:
            by_key.setdefault("biomarkers.mmr", []).extend(derived)
    chosen: dict[str, Candidate] = {}
    for key, cs in by_key.items():
        if key == "course":
            continue
        if key.endswith(".largest_size"):
            cs = _sizes(cs)
        others = {json.dumps(c.value, sort_keys=True) for c in cs}
        cs = [c for c in cs if not any(json.dumps(v, sort_keys=True) in others
                                       for v in _rule_yields(c.source.rule, key))] or cs
        values = _distinct(cs)
        if len(values) > 1:
            conflicts.append(_conflict(key, values, "different values in the reports: left empty for the "
                                                    "clinician to settle"))
            continue
        chosen[key] = next((c for c in cs if c.source.confidence == "explicit" and _same(c.value, values[0].value)),
                           values[0])
    # a variant needs a mutant KRAS (a KRAS conflict leaves the variant out too)
    if "biomarkers.kras_variant" in chosen and chosen.get("biomarkers.kras") is None:
        del chosen["biomarkers.kras_variant"]
    if "biomarkers.kras_variant" in chosen and chosen["biomarkers.kras"].value != "mutant":
        del chosen["biomarkers.kras_variant"]
    patient: dict[str, Any] = {}
    provenance: dict[str, Source] = {}
    # metastatic sites: the organs a report affirms, in order of first mention
    organs = []
    for key, c in chosen.items():
        m = re.match(r"^metastases\[(\w+)\]$", key)
        if m and c.value == "present":
            organs.append((c.source.document, c.source.start, m.group(1)))
    order = [o for *_, o in sorted(organs)]
    order = list(dict.fromkeys(order))
    for key, c in chosen.items():
        m = re.match(r"^metastases\[(\w+)\](.*)$", key)
        if m:
            organ, rest = m.groups()
            if organ not in order:
                unmapped.append({**c.source.as_dict(), "field": f"metastases[{organ}]{rest}",
                                 "reason": f"no report says there are {organ} metastases"})
                continue
            base = f"metastases[{order.index(organ)}]"
            if not rest:
                _set_path(patient, f"{base}.organ", organ)
                provenance[f"{base}.organ"] = c.source
                continue
            path = base + rest
        else:
            path = key
        _set_path(patient, path, c.value)
        for leaf in _leaves(path, c.value):
            provenance[leaf] = c.source
    _courses(by_key.get("course", []), patient, provenance, conflicts)
    return patient, provenance, conflicts


def _courses(cands: list[Candidate], patient: dict[str, Any], provenance: dict[str, Source],
             conflicts: list[dict[str, Any]]) -> None:
    merged: list[tuple[dict[str, Any], Source, dict[str, Source]]] = []
    for c in cands:
        fields = c.value["fields"]
        for course, _, srcs in merged:
            if course["regimen"] == fields["regimen"] and course.get("intent") == fields.get("intent") and (
                    course.get("line") == fields.get("line")):
                for k, v in fields.items():
                    if k in course and course[k] != v:
                        conflicts.append({"field": f"course {fields['regimen']} {k}", "reason": "the reports "
                                          "disagree", "values": [{"value": course[k], **srcs[k].as_dict()},
                                                                 {"value": v, **c.source.as_dict()}]})
                        course[k] = None
                    elif k not in course:
                        course[k] = v
                        srcs[k] = c.source
                break
        else:
            merged.append((dict(fields), c.source, {k: c.source for k in fields}))
    merged.sort(key=lambda t: (t[0].get("line") or 99, t[1].document, t[1].start))
    for i, (course, _, srcs) in enumerate(merged):
        base = f"treatment_history.courses[{i}]"
        for k, v in course.items():
            if v is None:
                continue
            _set_path(patient, f"{base}.{k}", v)
            provenance[f"{base}.{k}"] = srcs[k]

