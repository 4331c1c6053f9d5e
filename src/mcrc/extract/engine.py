"""The extraction engine: documents in, a Draft out (a Patient dictionary, provenance, conflicts, unmapped).

Steps: each document goes through one blank spaCy pipeline (medspaCy PyRuSH sentences, target matcher with the fact
rules' patterns, ConText with rules/context.yaml, section detection with rules/sections.yaml); each matched span
becomes candidate values for Patient paths, unless ConText says it is negated (then only a rule's `negated` values),
possible, hypothetical, about the family, or historical where the rule drops the past. Candidates are gathered
over all documents; a path with two different values is a conflict and stays empty; the dictionary is then
validated by the Patient model, and fields the model refuses together are taken out and reported, never guessed.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import sys
import types
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mcrc.errors import InputError
from mcrc.extract.documents import Document
from mcrc.extract.rules import FactRule, Rules, Value, load_rules

METASTATIC_ORGANS = ("liver", "lung", "peritoneum", "distant_lymph_nodes", "pelvic_implant", "ovary", "bone", "brain",
                     "adrenal", "other")
_SPLIT = re.compile(r"\s*(?:,|\band\b|\bor\b|&|/)\s*", re.IGNORECASE)
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}


class _Skip(Exception):
    """A value that cannot be read from this mention (no group matched, a map without the word)."""


@dataclass(frozen=True)
class Source:
    document: str
    start: int
    end: int
    sentence: str
    confidence: str
    rule: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"document": self.document, "start": self.start, "end": self.end, "sentence": self.sentence,
                "confidence": self.confidence, "rule": self.rule, "text": self.text}


@dataclass
class Candidate:
    key: str  # a Patient path, with metastases[<organ>] for a site and course.* for a course
    value: Any
    source: Source
    role: str | None = None


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


# ---------------------------------------------------------------------------------------------------------- pipeline
def _quiet() -> None:
    # medspaCy's matchers hold only regular-expression rules here, so spaCy's phrase matcher inside them is empty
    # and warns so (W036) on every document
    warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
    for name in ("medspacy", "PyRuSH", "spacy", "PyFastNER", "quicksectx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _without_quickumls() -> None:
    """medspaCy 1.3 imports QuickUMLS at import time for a component mcrc never uses (UMLS concept mapping, which
    needs a UMLS licence and database). It is not installed (decision record 0045); an empty module stands in, so
    that asking for that component fails, while nothing else changes."""
    try:
        import quickumls  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        stub = types.ModuleType("quickumls")
        stub.spacy_component = None  # type: ignore[attr-defined]
        sys.modules["quickumls"] = stub


@functools.cache
def pipeline() -> Any:
    """The spaCy pipeline, built once per process (no model: spacy.blank("en"); nothing is downloaded)."""
    _quiet()
    _without_quickumls()
    import spacy
    from medspacy.context import ConTextRule
    from medspacy.section_detection import SectionRule
    from spacy.language import Language

    _quiet()
    rules = load_rules()
    nlp = spacy.blank("en")
    # sentences: spaCy's rule-based splitter plus report lines (medspaCy's PyRuSH and pySBD splitters take 170 and
    # 55 ms on a two-page report, over the 50 ms target alone; decision record 0045)
    nlp.add_pipe("sentencizer")
    if "mcrc_report_lines" not in Language.factories:
        Language.component("mcrc_report_lines", func=_report_lines)
    nlp.add_pipe("mcrc_report_lines")
    # targets: the fact rules' regular expressions, each run once over the text into medspaCy's span group (its
    # TargetMatcher rebuilds the document's text for every regex rule: 37 ms on two pages with these 70 rules)
    if "mcrc_targets" not in Language.factories:
        Language.component("mcrc_targets", func=_targets)
    nlp.add_pipe("mcrc_targets")
    context = nlp.add_pipe("medspacy_context", config={"rules": None, "input_span_type": "group"})
    context.add([ConTextRule(m.literal, m.category, direction=m.direction, max_scope=m.max_scope)
                 for m in rules.modifiers])
    sectionizer = nlp.add_pipe("medspacy_sectionizer",
                               config={"rules": None, "require_start_line": True, "input_span_type": "group"})
    sectionizer.add([SectionRule(f"{s.literal}:", _section_id(s.literal)) for s in rules.sections])
    return nlp


SPAN_GROUP = "medspacy_spans"  # where medspaCy's ConText and Sectionizer read targets (input_span_type "group")


def _targets(doc: Any) -> Any:
    text = doc.text
    spans = []
    for rule in load_rules().facts:
        for m in rule.regex.finditer(text):
            if m.end() > m.start() and (span := doc.char_span(m.start(), m.end(), label=rule.id,
                                                                alignment_mode="expand")) is not None:
                spans.append(span)
    doc.spans[SPAN_GROUP] = spans
    return doc


_LINE_START = re.compile(r"(?:[-*\u2022]\s|\d{1,2}[.)]\s|[A-Z][\w /()-]{0,40}:)")


def _report_lines(doc: Any) -> Any:
    """Reports are written in lines: a line that starts a list item ("- ", "2. ") or a field ("KRAS: ...") starts a
    sentence, and so does any line after one that does not end mid-sentence (a letter or a comma). Wrapped prose
    keeps its sentences."""
    text = doc.text
    for m in re.finditer(r"\n[ \t]*(?=\S)", text):
        start = m.end()
        before = text[:m.start()].rstrip()
        if _LINE_START.match(text, start) or not before or not (before[-1].isalpha() or before[-1] == ","):
            span = doc.char_span(start, start + 1, alignment_mode="expand")
            if span is not None and span.start > 0:
                doc[span.start].is_sent_start = True
    return doc


def _section_id(literal: str) -> str:
    return re.sub(r"\W+", "_", literal.lower()).strip("_")


# ---------------------------------------------------------------------------------------------------------- values
def _group(m: re.Match[str], names: tuple[str, ...]) -> tuple[str, str]:
    for name in names:
        if m.group(name) is not None:
            return name, m.group(name)
    raise _Skip


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _unit_of(m: re.Match[str], name: str, unit: str = "unit") -> str | None:
    suffix = re.sub(r"^[a-z]+", "", name)
    for candidate in (unit + suffix, unit):
        if candidate in m.re.groupindex and m.group(candidate):
            return m.group(candidate).lower()
    return None


def _date(text: str) -> str:
    text = text.strip().lower().rstrip(".")
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            return dt.date.fromisoformat(text).isoformat()
        if m := re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", text):  # day/month/year, as the corpus's reports write it
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        if m := re.match(r"^(\d{1,2})\s+([a-z]+)\.?\s+(\d{4})$", text):
            return dt.date(int(m.group(3)), _MONTHS[m.group(2)[:3]], int(m.group(1))).isoformat()
    except (ValueError, KeyError):
        raise _Skip from None
    raise _Skip


def _regimen(text: str, rules: Rules) -> str:
    key = re.sub(r"[\s+/–-]|plus|with|and", "", text.lower())
    key = re.sub(r"^mfolfox", "folfox", key)
    key = re.sub(r"^folfox[467]", "folfox", key)
    key = key.replace("bev", "bevacizumab", 1) if key.endswith("bev") else key
    key = key.replace("avastin", "bevacizumab")
    code = rules.maps["regimen"].get(key)
    if code is None:
        raise _Skip
    return code


def read_value(v: Value, m: re.Match[str], rules: Rules) -> tuple[Any, bool]:
    """The value and whether it was read without a stated unit (CEA): then it is inferred, not explicit."""
    if v.is_constant:
        return v.constant, False
    if v.how == "regimen":  # the groups together name the regimen (FOLFOX + bevacizumab)
        text = " ".join(m.group(g) for g in v.groups if m.group(g))
        if not text:
            raise _Skip
        return _regimen(text, rules), False
    name, text = _group(m, v.groups)
    how = v.how
    if how is None:
        return text.lower(), False
    if how == "int":
        return int(text), False
    if how == "count":
        t = text.lower().strip()
        n = int(t) if t.isdigit() else rules.maps["count"].get(t)
        if not n:
            raise _Skip
        return n, False
    if how == "cm":
        unit = _unit_of(m, name, "u") or "cm"
        value = _number(text) / (10 if unit == "mm" else 1)
        return round(value, 2), False
    if how == "size":
        unit = _unit_of(m, name)
        if unit is None:
            raise _Skip
        nums = [_number(text)]
        second = "num2" if name == "num" else None
        if second and second in m.re.groupindex and m.group(second):
            nums.append(_number(m.group(second)))
        return {"value": max(nums), "unit": unit}, False
    if how == "stage_t":
        t = text.lower()
        if t == "is":
            return "Tis", False
        return "T" + (t if t[0] == "4" and t[1:] in ("a", "b") else t[0]), False
    if how == "stage_n":
        n = text.lower()
        allowed = {"0": (), "1": ("a", "b", "c"), "2": ("a", "b")}[n[0]]
        return "N" + (n if n[1:] in allowed else n[0]), False
    if how == "date":
        return _date(text), False
    if how == "cea":
        unit = _unit_of(m, name)
        return _number(text), unit is None
    mapped = rules.maps[how].get(re.sub(r"\s+", " ", text.lower().strip()))
    if mapped is None:
        raise _Skip
    return mapped, False


# ---------------------------------------------------------------------------------------------------------- reading
def classify(doc: Document, rules: Rules) -> tuple[str, str | None]:
    """The document's kind (as given, else the kind whose cue appears first in the text, which is where a report
    names itself) and the organ it is about, if a cue of that kind names one."""
    head = doc.text[:3000]
    hits = sorted((m.start(), i, cue) for i, cue in enumerate(rules.documents) if (m := cue.cue.search(head)))
    kind = doc.kind or (hits[0][2].kind if hits else "letter")
    organ = next((cue.organ for _, _, cue in hits if cue.kind == kind and cue.organ), None)
    return kind, organ


def _organs_named(sentence: str, rules: Rules) -> list[str]:
    return [organ for organ, hint in rules.organ_hints.items() if hint.search(sentence)]


def _organ_right_after(text: str, rules: Rules) -> str | None:
    for organ, hint in rules.organ_hints.items():
        m = hint.search(text)
        if m and re.fullmatch(r"\s*(?:[\w-]+\s+){0,1}", text[:m.start()]):
            return organ
    return None


def _organ_before(text: str, rules: Rules) -> str | None:
    last = {organ: max((m.end() for m in hint.finditer(text)), default=-1) for organ, hint in rules.organ_hints.items()}
    organ, end = max(last.items(), key=lambda kv: kv[1])
    return organ if end >= 0 else None


@dataclass
class _Reading:
    candidates: list[Candidate] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)


def _context_flags(ent: Any) -> list[str]:
    flags = []
    for attr, name in (("is_family", "family"), ("is_hypothetical", "hypothetical"), ("is_uncertain", "possible"),
                       ("is_negated", "negated"), ("is_historical", "historical")):
        if getattr(ent._, attr, False):
            flags.append(name)
    return flags


def _read_document(doc: Document, index: int, rules: Rules, out: _Reading) -> dict[str, Any]:
    nlp = pipeline()
    kind, doc_organ = classify(doc, rules)
    with warnings.catch_warnings():  # (pytest and other callers reset warning filters: silence it here too)
        warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
        sdoc = nlp(doc.text)
    sections = {_section_id(s.literal): s for s in rules.sections}
    course_mentions: dict[int, list[tuple[Any, FactRule]]] = {}
    for ent in sorted(sdoc.spans[SPAN_GROUP], key=lambda e: (e.start_char, -e.end_char)):
        rule = rules.by_id.get(ent.label_)
        if rule is None:
            continue
        m = rule.regex.search(ent.text)
        if m is None:  # a case-sensitive rule the case-insensitive matcher over-matched
            continue
        sent = ent.sent
        sentence = sent.text.strip()
        start, end = ent.start_char + m.start(), ent.start_char + m.end()
        words = doc.text[start:end]
        section = sections.get(ent._.section_category or "")

        def skip(reason: str, words: str = words, start: int = start, end: int = end, rule: FactRule = rule,
                 sentence: str = sentence) -> None:
            out.unmapped.append({"document": doc.name, "start": start, "end": end, "text": words,
                                 "sentence": sentence, "rule": rule.id, "reason": reason})

        if rule.types and kind not in rule.types:
            continue
        if section is not None and section.effect == "family":
            skip("in the family history section")
            continue
        if section is not None and section.effect == "request":
            skip(f"in the '{section.literal}' section (the question asked, not a finding)")
            continue
        flags = _context_flags(ent)
        if "family" in flags:
            skip("about a relative, not the patient")
            continue
        if "hypothetical" in flags:
            skip("hypothetical (to exclude, requested, planned...)")
            continue
        if "possible" in flags and rule.negation == "apply":  # a rule whose own words state the result keeps it
            skip("uncertain (possible, suspected, cannot be excluded...)")
            continue
        if "historical" in flags and rule.historical == "drop":
            skip("a past finding, not today's")
            continue
        if rule.excludes is not None and rule.excludes.search(sentence):
            skip("the sentence speaks of something else (" + rule.excludes.search(sentence).group(0) + ")")
            continue
        if rule.requires is not None and not rule.requires.search(sentence):
            continue
        negated = "negated" in flags and rule.negation == "apply"
        values = rule.negated if negated else rule.set
        if negated and not values:
            skip("negated: the field does not mean absence")
            continue
        confidence = (rule.negated_confidence or rule.confidence) if negated else rule.confidence
        if rule.role == "course" and not negated:
            course_mentions.setdefault(sent.start_char, []).append((ent, rule))
            continue
        organ: str | None = None
        if rule.organ is not None or rule.organ_context:
            try:
                organ = read_value(rule.organ, m, rules)[0] if rule.organ is not None else None
            except _Skip:
                organ = None
            if rule.organ_context:
                named = _organs_named(sentence, rules)
                if len(named) > 1:  # several organs: the one named right after ("a 3 cm liver metastasis"), else
                    # the one named last before the words
                    organ = (_organ_right_after(doc.text[end:end + 40], rules)
                             or _organ_before(sent.text[:start - sent.start_char], rules))
                    if organ is None:
                        skip(f"the sentence names several organs ({', '.join(named)})")
                        continue
                else:
                    organ = named[0] if named else (section.organ if section and section.organ else doc_organ)
            if organ not in METASTATIC_ORGANS:
                skip("no metastatic organ to place it in")
                continue
        def src(conf: str, start: int = start, end: int = end, sentence: str = sentence, rule: FactRule = rule,
                words: str = words) -> Source:
            return Source(doc.name, start, end, sentence, conf, rule.id, words)

        if rule.each is not None:
            for gene in _SPLIT.split(m.group(rule.each["group"])):
                path = rules.maps[rule.each["map"]].get(re.sub(r"\s+", " ", gene.lower().strip()))
                if path:
                    out.candidates.append(Candidate(path, rule.each["value"], src(confidence)))
            continue
        for path, v in values.items():
            try:
                value, unitless = read_value(v, m, rules)
            except _Skip:
                continue
            key = path.replace("[*]", f"[{organ}]")
            if rule.establishes_when_positive and isinstance(value, int) and value > 0:
                out.candidates.append(Candidate(f"metastases[{organ}]", "present", src("inferred")))
            out.candidates.append(Candidate(key, value, src("inferred" if unitless else confidence), rule.role))
    for mentions in course_mentions.values():
        _course(doc, mentions, rules, out)
    return {"name": doc.name, "type": kind, "index": index}


def _course(doc: Document, mentions: list[tuple[Any, FactRule]], rules: Rules, out: _Reading) -> None:
    ent, rule = mentions[0]
    sentence = ent.sent.text.strip()
    if len(mentions) > 1:
        out.unmapped.append({"document": doc.name, "start": ent.sent.start_char, "end": ent.sent.end_char,
                             "text": sentence, "sentence": sentence, "rule": rule.id,
                             "reason": "the sentence names several regimens: which words belong to which course "
                                       "is not clear"})
        return
    m = rule.regex.search(ent.text)
    start, end = ent.start_char + m.start(), ent.start_char + m.end()
    try:
        regimen, _ = read_value(rule.set["course.regimen"], m, rules)
    except _Skip:
        out.unmapped.append({"document": doc.name, "start": start, "end": end, "text": ent.text, "sentence": sentence,
                             "rule": rule.id, "reason": "a regimen mcrc has no code for"})
        return
    fields: dict[str, set[Any]] = {"regimen": {regimen}}
    for attr in rules.course_attributes:
        for am in attr.regex.finditer(sentence):
            for key, v in attr.set.items():
                try:
                    fields.setdefault(key, set()).add(read_value(v, am, rules)[0])
                except _Skip:
                    continue
    course = {k: next(iter(vs)) for k, vs in fields.items() if len(vs) == 1}
    unclear = sorted(k for k, vs in fields.items() if len(vs) > 1)
    src = Source(doc.name, start, end, sentence, "explicit", rule.id, doc.text[start:end])
    if "intent" not in course:
        why = "a course whose intent (adjuvant, first line...) is not stated"
        out.unmapped.append({**src.as_dict(), "reason": why + (f"; unclear: {', '.join(unclear)}" if unclear else "")})
        return
    out.candidates.append(Candidate("course", {"fields": course, "unclear": unclear}, src, "course"))


# ---------------------------------------------------------------------------------------------------------- gathering
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
    reading = _Reading()
    docs = [_read_document(d, i, rules, reading) for i, d in enumerate(documents)]
    patient, provenance, conflicts = assemble(reading.candidates, reading.unmapped)
    patient = _validate(patient, provenance, conflicts, today)
    return Draft(patient=patient, provenance={k: v.as_dict() for k, v in sorted(provenance.items())},
                 conflicts=conflicts, unmapped=reading.unmapped, documents=docs)
