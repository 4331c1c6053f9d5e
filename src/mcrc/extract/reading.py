"""Reading each document: its kind, the rule mentions ConText and the sections let through, the organ a mention
belongs to, and the courses of treatment, as candidate values for Patient paths with their sources."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from mcrc.extract.documents import Document
from mcrc.extract.pipeline import SPAN_GROUP, pipeline, section_id
from mcrc.extract.rules import FactRule, Rules
from mcrc.extract.values import Unreadable, read_value

METASTATIC_ORGANS = ("liver", "lung", "peritoneum", "distant_lymph_nodes", "pelvic_implant", "ovary", "bone", "brain",
                     "adrenal", "other")
_SPLIT = re.compile(r"\s*(?:,|\band\b|\bor\b|&|/)\s*", re.IGNORECASE)


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
class Reading:
    candidates: list[Candidate] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)


def _context_flags(ent: Any) -> list[str]:
    flags = []
    for attr, name in (("is_family", "family"), ("is_hypothetical", "hypothetical"), ("is_uncertain", "possible"),
                       ("is_negated", "negated"), ("is_historical", "historical")):
        if getattr(ent._, attr, False):
            flags.append(name)
    return flags


def read_document(doc: Document, index: int, rules: Rules, out: Reading) -> dict[str, Any]:
    nlp = pipeline()
    kind, doc_organ = classify(doc, rules)
    with warnings.catch_warnings():  # (pytest and other callers reset warning filters: silence it here too)
        warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
        sdoc = nlp(doc.text)
    sections = {section_id(s.literal): s for s in rules.sections}
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
            except Unreadable:
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
            except Unreadable:
                continue
            key = path.replace("[*]", f"[{organ}]")
            if rule.establishes_when_positive and isinstance(value, int) and value > 0:
                out.candidates.append(Candidate(f"metastases[{organ}]", "present", src("inferred")))
            out.candidates.append(Candidate(key, value, src("inferred" if unitless else confidence), rule.role))
    for mentions in course_mentions.values():
        _course(doc, mentions, rules, out)
    return {"name": doc.name, "type": kind, "index": index}


def _course(doc: Document, mentions: list[tuple[Any, FactRule]], rules: Rules, out: Reading) -> None:
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
    except Unreadable:
        out.unmapped.append({"document": doc.name, "start": start, "end": end, "text": ent.text, "sentence": sentence,
                             "rule": rule.id, "reason": "a regimen mcrc has no code for"})
        return
    fields: dict[str, set[Any]] = {"regimen": {regimen}}
    for attr in rules.course_attributes:
        for am in attr.regex.finditer(sentence):
            for key, v in attr.set.items():
                try:
                    fields.setdefault(key, set()).add(read_value(v, am, rules)[0])
                except Unreadable:
                    continue
    course = {k: next(iter(vs)) for k, vs in fields.items() if len(vs) == 1}
    unclear = sorted(k for k, vs in fields.items() if len(vs) > 1)
    src = Source(doc.name, start, end, sentence, "explicit", rule.id, doc.text[start:end])
    if "intent" not in course:
        why = "a course whose intent (adjuvant, first line...) is not stated"
        out.unmapped.append({**src.as_dict(), "reason": why + (f"; unclear: {', '.join(unclear)}" if unclear else "")})
        return
    out.candidates.append(Candidate("course", {"fields": course, "unclear": unclear}, src, "course"))

