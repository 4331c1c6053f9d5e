"""The extraction rules, read from the YAML files beside this module and validated once when loaded.

Nothing here imports spaCy or medspaCy: the rules can be loaded, checked and listed without them. A malformed rule
file raises `RulesError` naming the file, the rule and what is wrong (a bad regex, an unknown map or parser, a
group the value names that the pattern lacks, a path outside the Patient).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mcrc.errors import KnowledgeError, Problem

RULES_PACKAGE = "mcrc.extract"
RULES_DIR = "rules"
CONTEXT_CATEGORIES = ("NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HYPOTHETICAL", "HISTORICAL", "FAMILY", "TERMINATE")
DIRECTIONS = ("FORWARD", "BACKWARD", "BIDIRECTIONAL", "TERMINATE")
SECTION_EFFECTS = ("normal", "family", "request")
KINDS = ("pathology", "radiology", "letter")
PARSERS = ("int", "count", "cm", "size", "stage_t", "stage_n", "date", "regimen", "cea")
CONFIDENCE = ("explicit", "inferred")
COURSE_FIELDS = ("regimen", "line", "intent", "cycles", "started", "ended", "stop_reason", "best_response")
# the Patient paths a fact rule may fill (metastases[*] is the site of the rule's organ; _mmr.* are the four
# proteins, read together into biomarkers.mmr)
PATHS = {
    "biomarkers.kras", "biomarkers.kras_variant", "biomarkers.nras", "biomarkers.braf", "biomarkers.mmr",
    "biomarkers.msi", "biomarkers.her2", "biomarkers.her2_method", "biomarkers.her2_ihc_score",
    "biomarkers.ntrk_fusion", "biomarkers.ret_fusion",
    "primary.location", "primary.rectal_third", "primary.distance_from_anal_verge_cm", "primary.ct", "primary.cn",
    "primary.pt", "primary.pn", "primary.ypt", "primary.ypn", "primary.status", "primary.emergency",
    "metastases[*]", "metastases[*].count", "metastases[*].largest_size", "metastases[*].bilateral",
    "metastases[*].bilobar", "metastases[*].zone", "metastases[*].lymphangitic",
    "metastases[*].hilar_mediastinal_nodes", "metastases[*].pci",
    "age", "sex", "hereditary_syndrome", "ecog", "cea_ng_ml", "course.regimen",
    "_mmr.mlh1", "_mmr.msh2", "_mmr.msh6", "_mmr.pms2",
}
_TEMPLATE = re.compile(r"^\{([A-Za-z0-9_,]+)\|([a-z_0-9]+)\}$|^\{([A-Za-z0-9_]+)\}$")
_PIECE = re.compile(r"<<([a-z_0-9]+)>>")


class RulesError(KnowledgeError):
    """An extraction rule file is malformed; nothing was extracted."""

    headline = "invalid extraction rules"


@dataclass(frozen=True)
class Value:
    """A rule's value: a constant, or named groups (the first that matched) read through a map or a parser."""

    constant: Any = None
    groups: tuple[str, ...] = ()
    how: str | None = None  # a lexicon map name, a parser name, or None (the group's text)

    @property
    def is_constant(self) -> bool:
        return not self.groups


@dataclass(frozen=True)
class FactRule:
    id: str
    regex: re.Pattern[str]
    set: dict[str, Value]
    negated: dict[str, Value]
    negation: str = "apply"
    historical: str = "keep"
    confidence: str = "explicit"
    negated_confidence: str | None = None
    types: tuple[str, ...] = ()
    organ: Value | None = None
    organ_context: bool = False
    requires: re.Pattern[str] | None = None
    excludes: re.Pattern[str] | None = None
    each: dict[str, Any] | None = None
    role: str | None = None
    establishes_when_positive: bool = False
    yields_to: dict[str, tuple[Any, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class CourseAttribute:
    regex: re.Pattern[str]
    set: dict[str, Value]


@dataclass(frozen=True)
class Modifier:
    literal: str
    category: str
    direction: str
    max_scope: int | None = None


@dataclass(frozen=True)
class Section:
    literal: str
    effect: str
    organ: str | None = None


@dataclass(frozen=True)
class DocumentCue:
    kind: str
    cue: re.Pattern[str]
    organ: str | None = None


@dataclass(frozen=True)
class Rules:
    facts: tuple[FactRule, ...]
    course_attributes: tuple[CourseAttribute, ...]
    modifiers: tuple[Modifier, ...]
    sections: tuple[Section, ...]
    documents: tuple[DocumentCue, ...]
    maps: dict[str, dict[str, Any]]
    organ_hints: dict[str, re.Pattern[str]] = field(default_factory=dict)
    by_id: dict[str, FactRule] = field(default_factory=dict)


def _reader(directory: Path | None) -> Any:
    def read(name: str) -> Any:
        if directory is None:
            text = resources.files(RULES_PACKAGE).joinpath(RULES_DIR).joinpath(name).read_text(encoding="utf-8")
        else:
            text = (directory / name).read_text(encoding="utf-8")
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RulesError([Problem(f"rules/{name}", f"not valid YAML: {exc}")]) from None

    return read


class _Checker:
    def __init__(self, pieces: dict[str, str], maps: dict[str, dict[str, Any]]):
        self.pieces, self.maps, self.problems = pieces, maps, []

    def fail(self, where: str, message: str, allowed: str | None = None) -> None:
        self.problems.append(Problem(where, message, allowed))

    def regex(self, where: str, pattern: Any, case_sensitive: bool = False) -> re.Pattern[str] | None:
        if not isinstance(pattern, str) or not pattern:
            self.fail(where, "pattern must be a non-empty text")
            return None
        unknown = [p for p in _PIECE.findall(pattern) if p not in self.pieces]
        if unknown:
            self.fail(where, f"unknown pattern piece(s) {', '.join(unknown)}", ", ".join(sorted(self.pieces)))
            return None
        for _ in range(3):  # pieces may use pieces
            pattern = _PIECE.sub(lambda m: self.pieces[m.group(1)], pattern)
        try:
            return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
        except re.error as exc:
            self.fail(where, f"invalid regular expression: {exc}")
            return None

    def value(self, where: str, raw: Any, regex: re.Pattern[str] | None) -> Value | None:
        if not isinstance(raw, str) or "{" not in raw:
            return Value(constant=raw)
        m = _TEMPLATE.match(raw)
        if not m:
            self.fail(where, f"value {raw!r} is neither a constant nor '{{group|how}}'")
            return None
        groups = tuple((m.group(1) or m.group(3)).split(","))
        how = m.group(2)
        if how is not None and how not in PARSERS and how not in self.maps:
            self.fail(where, f"unknown map or parser {how!r}", ", ".join([*PARSERS, *sorted(self.maps)]))
        if regex is not None:
            missing = [g for g in groups if g not in regex.groupindex]
            if missing:
                self.fail(where, f"the pattern has no group named {', '.join(missing)}")
        return Value(groups=groups, how=how)

    def values(self, where: str, raw: Any, regex: re.Pattern[str] | None, paths: set[str] | None) -> dict[str, Value]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(where, "must be a mapping of field path to value")
            return {}
        out = {}
        for path, v in raw.items():
            if paths is not None and path not in paths:
                self.fail(f"{where}.{path}", "not a field extraction may fill", ", ".join(sorted(paths)))
                continue
            value = self.value(f"{where}.{path}", v, regex)
            if value is not None:
                out[path] = value
        return out


_FACT_KEYS = {"id", "pattern", "set", "negated", "negation", "historical", "confidence", "negated_confidence",
              "types", "organ", "requires", "excludes", "each", "role", "case_sensitive", "establishes_when_positive",
              "yields_to"}


def _fact(c: _Checker, i: int, raw: Any, seen: set[str]) -> FactRule | None:
    where = f"rules/facts.yaml rules[{i}]"
    if not isinstance(raw, dict):
        c.fail(where, "a rule must be a mapping")
        return None
    rid = raw.get("id")
    if not isinstance(rid, str) or not re.match(r"^[a-z][a-z0-9_]*$", rid):
        c.fail(where, f"id {rid!r} must be lower_snake_case text")
        return None
    where = f"rules/facts.yaml {rid}"
    if rid in seen:
        c.fail(where, "duplicate rule id")
    seen.add(rid)
    for key in set(raw) - _FACT_KEYS:
        c.fail(where, f"unknown key {key!r}", ", ".join(sorted(_FACT_KEYS)))
    regex = c.regex(where, raw.get("pattern"), bool(raw.get("case_sensitive", False)))
    sets = c.values(f"{where} set", raw.get("set"), regex, PATHS)
    negated = c.values(f"{where} negated", raw.get("negated"), regex, PATHS)
    each = raw.get("each")
    if each is not None:
        if not (isinstance(each, dict) and {"group", "map", "value"} <= set(each)):
            c.fail(f"{where} each", "needs group, map and value")
        elif each["map"] not in c.maps:
            c.fail(f"{where} each", f"unknown map {each['map']!r}", ", ".join(sorted(c.maps)))
        elif regex is not None and each["group"] not in regex.groupindex:
            c.fail(f"{where} each", f"the pattern has no group named {each['group']}")
    if not sets and not negated and each is None:
        c.fail(where, "the rule fills nothing (give set, negated or each)")
    choices = {"negation": ("apply", "ignore"), "historical": ("keep", "drop"), "confidence": CONFIDENCE,
               "negated_confidence": CONFIDENCE, "role": ("course", "size_candidate")}
    for key, allowed in choices.items():
        if key in raw and raw[key] not in allowed:
            c.fail(f"{where} {key}", f"{raw[key]!r} is not allowed", ", ".join(allowed))
    types = raw.get("types") or []
    if not isinstance(types, list) or any(t not in KINDS for t in types):
        c.fail(f"{where} types", f"{types!r}: kinds of document", ", ".join(KINDS))
    organ_raw = raw.get("organ")
    organ = None if organ_raw in (None, "context") else c.value(f"{where} organ", organ_raw, regex)
    if any(p.startswith("metastases[*]") for p in (*sets, *negated)) and organ_raw is None:
        c.fail(where, "a rule filling metastases[*] must say which organ (organ: ...)")
    yields = raw.get("yields_to") or {}
    if not isinstance(yields, dict) or any(p not in PATHS or not isinstance(v, list) for p, v in yields.items()):
        c.fail(f"{where} yields_to", "must map field paths to lists of values")
        yields = {}
    optional = {}
    for key in ("requires", "excludes"):
        if raw.get(key) is not None:
            optional[key] = c.regex(f"{where} {key}", raw[key])
    return FactRule(
        id=rid, regex=regex or re.compile("(?!)"), set=sets, negated=negated,
        negation=raw.get("negation", "apply"), historical=raw.get("historical", "keep"),
        confidence=raw.get("confidence", "explicit"), negated_confidence=raw.get("negated_confidence"),
        types=tuple(types) if isinstance(types, list) else (), organ=organ, organ_context=organ_raw == "context",
        requires=optional.get("requires"), excludes=optional.get("excludes"), each=each, role=raw.get("role"),
        establishes_when_positive=bool(raw.get("establishes_when_positive", False)),
        yields_to={p: tuple(v) for p, v in yields.items()})


@functools.cache
def load_rules() -> Rules:
    """The packaged rules, read and checked once per process."""
    return read_rules()


def read_rules(directory: Path | None = None) -> Rules:
    """Read and check every rule file (the packaged ones, or those in `directory`); RulesError lists every
    problem found."""
    _read = _reader(directory)
    lexicon = _read("lexicon.yaml") or {}
    facts = _read("facts.yaml") or {}
    context = _read("context.yaml") or {}
    sections = _read("sections.yaml") or {}
    pieces = lexicon.get("pieces") or {}
    maps = {name: {str(k).lower(): v for k, v in (m or {}).items()} for name, m in (lexicon.get("maps") or {}).items()}
    c = _Checker(pieces, maps)
    seen: set[str] = set()
    fact_rules = [r for i, raw in enumerate(facts.get("rules") or []) if (r := _fact(c, i, raw, seen))]
    course_paths = set(COURSE_FIELDS)
    attributes = []
    for i, raw in enumerate(facts.get("course_attributes") or []):
        where = f"rules/facts.yaml course_attributes[{i}]"
        regex = c.regex(where, raw.get("pattern") if isinstance(raw, dict) else None)
        sets = c.values(f"{where} set", raw.get("set") if isinstance(raw, dict) else None, regex, course_paths)
        if regex is not None and sets:
            attributes.append(CourseAttribute(regex, sets))
    modifiers = []
    for i, raw in enumerate(context.get("modifiers") or []):
        where = f"rules/context.yaml modifiers[{i}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("literal"), str):
            c.fail(where, "needs a literal")
            continue
        if raw.get("category") not in CONTEXT_CATEGORIES:
            c.fail(where, f"category {raw.get('category')!r} is not allowed", ", ".join(CONTEXT_CATEGORIES))
            continue
        if raw.get("direction") not in DIRECTIONS:
            c.fail(where, f"direction {raw.get('direction')!r} is not allowed", ", ".join(DIRECTIONS))
            continue
        scope = raw.get("max_scope")
        if scope is not None and (not isinstance(scope, int) or scope < 1):
            c.fail(where, "max_scope must be a positive whole number")
            continue
        modifiers.append(Modifier(raw["literal"], raw["category"], raw["direction"], scope))
    section_rules = []
    for i, raw in enumerate(sections.get("sections") or []):
        where = f"rules/sections.yaml sections[{i}]"
        if not isinstance(raw, dict) or raw.get("effect") not in SECTION_EFFECTS:
            c.fail(where, "needs a literal and an effect", ", ".join(SECTION_EFFECTS))
            continue
        section_rules.append(Section(str(raw["literal"]).lower(), raw["effect"], raw.get("organ")))
    cues = []
    for i, raw in enumerate(sections.get("documents") or []):
        where = f"rules/sections.yaml documents[{i}]"
        if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
            c.fail(where, "needs a kind", ", ".join(KINDS))
            continue
        regex = c.regex(where, raw.get("cue"))
        if regex is not None:
            cues.append(DocumentCue(raw["kind"], regex, raw.get("organ")))
    hints = {}
    for organ, pattern in (lexicon.get("organ_hints") or {}).items():
        regex = c.regex(f"rules/lexicon.yaml organ_hints.{organ}", pattern)
        if regex is not None:
            hints[organ] = regex
    if c.problems:
        raise RulesError(c.problems)
    rules = Rules(tuple(fact_rules), tuple(attributes), tuple(modifiers), tuple(section_rules), tuple(cues), maps,
                  hints)
    rules.by_id.update({r.id: r for r in fact_rules})
    return rules
