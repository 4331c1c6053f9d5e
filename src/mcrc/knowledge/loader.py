"""Load and validate the knowledge files. Every problem names its file, line and what is allowed.

Validation is strict on purpose: a misspelt fact or value, an unknown code, a row without a
citation, a bad hit policy or a duplicate id stops the load; nothing half-valid is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from mcrc.errors import KnowledgeError, Problem
from mcrc.facts.catalog import FACTS
from mcrc.knowledge.compile import compiled_tables
from mcrc.knowledge.definitions import Definitions, parse_definitions
from mcrc.knowledge.expr import TRUE_EXPR, And, Cmp, Eq, Expr, In, Known, Not, Or, compile_expr, conjuncts, facts_of
from mcrc.knowledge.model import (
    SECTIONS,
    CaveatRule,
    Citation,
    Constraint,
    Indication,
    Invariant,
    KnowledgeBase,
    OutItem,
    Position,
    Row,
    Selector,
    Step,
    Strategy,
    Table,
)
from mcrc.knowledge.presumptions import parse_presumptions
from mcrc.knowledge.reviews import REVIEWS_FILE, build_book, parse_reviews, row_digest, row_version
from mcrc.vocabulary import SECTIONS as SECTIONS_VOCAB
from mcrc.vocabulary import (
    SEVERITIES,
    TRIAL_META_KEYS,
    Vocabulary,
    check_trial_meta,
    merge_vocabulary_data,
    parse_vocabulary,
    vocabulary_files,
)

Path_ = tuple[Any, ...]
HIT_POLICIES = ("unique", "collect")
TABLE_KEYS = {"id", "title", "hit", "applies", "rows", "cite"}
ROW_KEYS = {"id", "title", "when", "default", "cite", "note", "then", "position"}
POSITION_KEYS = {"topic", "voice", "stance", "summary"}
THEN_KEYS = set(SECTIONS) | {"strategies"}
STEP_KEYS = {"code", "months", "max_months", "regimens", "note", "every_months", "less_months_of"}
ITEM_KEYS = {"code", "note", "cite", "every_months", "from_month", "until_month", "differs"}
# what a row of a source of kind `evidence` may output: never a guideline recommendation (no goal, strategy, regimen,
# local treatment or referral); a cautionary warning beside the guideline's options is allowed (ORCHESTRA, decision
# record 0032), cited to its digest item
EVIDENCE_SECTIONS = {"evidence", "tests", "notes", "warnings"}
OPS = {"in", "not_in", "lt", "le", "gt", "ge", "ne", "eq", "known"}


# --- YAML with line numbers -----------------------------------------------------------------------

def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int], dups: list[tuple[Path_, int]]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            k = key.value
            if k in seen:  # YAML would silently keep the last one, dropping a condition
                dups.append(((*path, k), key.start_mark.line + 1))
            seen.add(k)
            out[(*path, k)] = key.start_mark.line + 1
            _lines(value, (*path, k), out, dups)
            out[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out, dups)


# libyaml's parser (bundled with PyYAML's wheels) is several times faster than the pure-Python one and reports
# the same marks; the safe constructor is the same either way.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else file
        raise KnowledgeError([Problem(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    lines: dict[Path_, int] = {}
    dups: list[tuple[Path_, int]] = []
    if node is not None:
        _lines(node, (), lines, dups)
    if dups:
        raise KnowledgeError([Problem(f"{file}:{line} ({'.'.join(map(str, p))})",
                                      "duplicate key: YAML keeps only the last one; combine them with `all: [...]`")
                              for p, line in dups])
    return data, lines


class _Collector:
    """Collects problems for one file, turning a data path into file:line."""

    def __init__(self, file: str, lines: dict[Path_, int]):
        self.file, self.lines, self.problems = file, lines, []

    def line(self, path: Path_) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())

    def add(self, path: Path_, message: str, allowed: str | None = None) -> None:
        line = self.line(path)
        dotted = ".".join(str(x) for x in path)
        where = f"{self.file}:{line}" if line else self.file
        self.problems.append(Problem(f"{where} ({dotted})" if dotted else where, message, allowed))


# --- conditions -----------------------------------------------------------------------------------

def _check_value(c: _Collector, path: Path_, fact: str, value: Any, ordered: bool = False) -> bool:
    spec = FACTS[fact]
    if ordered and spec.kind not in ("int", "number"):
        c.add(path, f"comparison needs a numeric fact; {fact} is {spec.kind}", "eq, in, not_in, ne, known")
        return False
    if not spec.accepts(value):
        c.add(path, f"{value!r} is not a value of fact {fact}", spec.allowed())
        return False
    return True


def parse_condition(c: _Collector, data: Any, path: Path_) -> Expr:
    if data is None:
        return TRUE_EXPR
    if not isinstance(data, dict):
        c.add(path, "a condition must be a mapping of fact: test", "fact names, all, any, not")
        return TRUE_EXPR
    items: list[Expr] = []
    for key, test in data.items():
        p = (*path, key)
        if key == "all" or key == "any":
            if not isinstance(test, list) or not test:
                c.add(p, f"'{key}' needs a non-empty list of conditions")
                continue
            parts = tuple(parse_condition(c, t, (*p, i)) for i, t in enumerate(test))
            items.append(And(parts) if key == "all" else Or(parts))
        elif key == "not":
            items.append(Not(parse_condition(c, test, p)))
        elif key not in FACTS:
            c.add(p, f"unknown fact '{key}'", _near(key, FACTS))
        else:
            items.extend(_parse_test(c, key, test, p))
    return items[0] if len(items) == 1 else And(tuple(items))


def _parse_test(c: _Collector, fact: str, test: Any, path: Path_) -> list[Expr]:
    if isinstance(test, list):
        ok = all(_check_value(c, path, fact, v) for v in test)
        return [In(fact, tuple(test))] if ok and test else []
    if not isinstance(test, dict):
        return [Eq(fact, test)] if _check_value(c, path, fact, test) else []
    out: list[Expr] = []
    for op, value in test.items():
        p = (*path, op)
        if op not in OPS:
            c.add(p, f"unknown operator '{op}'", ", ".join(sorted(OPS)))
        elif op == "known":
            if not isinstance(value, bool):
                c.add(p, "'known' takes true or false")
            else:
                out.append(Known(fact, value))
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not all(_check_value(c, p, fact, v) for v in value):
                if not isinstance(value, list):
                    c.add(p, f"'{op}' needs a list")
                continue
            node = In(fact, tuple(value))
            out.append(node if op == "in" else Not(node))
        elif op == "eq":
            if _check_value(c, p, fact, value):
                out.append(Eq(fact, value))
        elif _check_value(c, p, fact, value, ordered=op != "ne"):
            out.append(Cmp(fact, op, value))
    return out


def _near(name: str, options) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(options), n=3)
    return ", ".join(close) if close else f"{len(options)} names, see `mcrc kb facts`"


# --- citations, items, strategies -----------------------------------------------------------------

def parse_cites(c: _Collector, data: Any, path: Path_, sources: dict) -> tuple[Citation, ...]:
    if data is None:
        return ()
    entries = data if isinstance(data, list) else [data]
    out = []
    for i, entry in enumerate(entries):
        p = (*path, i) if isinstance(data, list) else path
        if not isinstance(entry, dict) or not entry.get("source") or not entry.get("where"):
            c.add(p, "a citation needs 'source' and 'where' (table, figure or section)")
            continue
        extra = set(entry) - {"source", "where", "footnote"}
        if extra:
            c.add(p, f"unknown citation key(s): {', '.join(sorted(extra))}", "source, where, footnote")
        if entry["source"] not in sources:
            c.add((*p, "source"), f"unknown source '{entry['source']}'", ", ".join(sources))
            continue
        fn = entry.get("footnote")
        out.append(Citation(str(entry["source"]), str(entry["where"]), None if fn is None else str(fn)))
    return tuple(out)


def _code(c: _Collector, vocab: Vocabulary, section: str, code: Any, path: Path_) -> bool:
    if not isinstance(code, str) or not vocab.has(section, code):
        c.add(path, f"unknown {section} code {code!r}", _near(str(code), vocab.codes(section)))
        return False
    return True


def parse_item(c, vocab, sources, section: str, data: Any, path: Path_) -> OutItem | None:
    vsec = SECTIONS[section]
    if isinstance(data, str):
        return OutItem(data) if _code(c, vocab, vsec, data, path) else None
    if not isinstance(data, dict) or "code" not in data:
        c.add(path, "an output item is a code or a mapping with 'code'")
        return None
    extra = set(data) - ITEM_KEYS
    if extra:
        c.add(path, f"unknown key(s): {', '.join(sorted(extra))}", ", ".join(sorted(ITEM_KEYS)))
    if not _code(c, vocab, vsec, data["code"], (*path, "code")):
        return None
    sched = {k: data.get(k) for k in ("every_months", "from_month", "until_month")}
    if any(v is not None for v in sched.values()) and section != "followup":
        c.add(path, "schedules (every_months, from_month, until_month) belong to followup items only")
    if data.get("differs") is not None and section != "evidence":
        c.add((*path, "differs"), "'differs' belongs to evidence items only")
    return OutItem(
        code=data["code"], note=_text(data.get("note")),
        citations=parse_cites(c, data.get("cite"), (*path, "cite"), sources), **sched,
        differs=_text(data.get("differs")),
    )


def parse_step(c, vocab, data: Any, path: Path_) -> Step | None:
    if isinstance(data, str):
        return Step(data) if _code(c, vocab, "actions", data, path) else None
    if not isinstance(data, dict) or "code" not in data:
        c.add(path, "a step is an action code or a mapping with 'code'")
        return None
    extra = set(data) - STEP_KEYS
    if extra:
        c.add(path, f"unknown key(s): {', '.join(sorted(extra))}", ", ".join(sorted(STEP_KEYS)))
    if not _code(c, vocab, "actions", data["code"], (*path, "code")):
        return None
    regimens = data.get("regimens") or []
    ok = all(_code(c, vocab, "regimens", r, (*path, "regimens", i)) for i, r in enumerate(regimens))
    for key in ("months", "max_months", "every_months"):
        val = data.get(key)
        if val is not None and (not isinstance(val, int | float) or isinstance(val, bool) or not 0 < val <= 60):
            c.add((*path, key), f"{key} must be a number of months between 0 and 60")
    less = data.get("less_months_of")
    if less is not None:
        spec = FACTS.get(less) if isinstance(less, str) else None
        if spec is None or spec.kind != "int":
            c.add((*path, "less_months_of"), f"less_months_of names an integer fact (months); got {less!r}")
            less = None
        elif data.get("max_months") is None:
            c.add((*path, "less_months_of"), "less_months_of needs max_months (the total it counts against)")
    return Step(data["code"], data.get("months"), data.get("max_months"), tuple(regimens) if ok else (),
                _text(data.get("note")), data.get("every_months"), less) if ok else None


def _text(value: Any) -> str | None:
    return None if value is None else " ".join(str(value).split())


def _position(c, vocab, sources, data: Any, path: Path_, source: str) -> Position | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        c.add(path, "a position is a mapping with topic, voice, stance and summary")
        return None
    extra = set(data) - POSITION_KEYS
    if extra:
        c.add(path, f"unknown key(s): {', '.join(sorted(extra))}", ", ".join(sorted(POSITION_KEYS)))
    ok = _code(c, vocab, "topics", data.get("topic"), (*path, "topic"))
    ok = _code(c, vocab, "stances", data.get("stance"), (*path, "stance")) and ok
    voices = (sources.get(source) or {}).get("voices") or [source]
    if data.get("voice") not in voices:
        c.add((*path, "voice"), f"unknown voice {data.get('voice')!r} for source {source}", ", ".join(voices))
        ok = False
    return Position(data["topic"], data["voice"], data["stance"], _text(data.get("summary"))) if ok else None


def parse_row(c, vocab, sources, table_id: str, data: Any, path: Path_, file: str,
              table_cites: tuple[Citation, ...] = (), source: str = "") -> Row | None:
    if not isinstance(data, dict):
        c.add(path, "a row must be a mapping")
        return None
    extra = set(data) - ROW_KEYS
    if extra:
        c.add(path, f"unknown row key(s): {', '.join(sorted(extra))}", ", ".join(sorted(ROW_KEYS)))
    rid = data.get("id")
    if not isinstance(rid, str) or not rid.startswith(table_id + "."):
        c.add((*path, "id"), f"row id must be a string starting with '{table_id}.'")
        return None
    if not data.get("title"):
        c.add(path, "a row needs a 'title' (the clinical situation, in your own words)")
    cites = parse_cites(c, data.get("cite"), (*path, "cite"), sources) or table_cites
    if not cites:
        c.add(path, f"row {rid} has no citation", "cite: {source, where, footnote}")
    default = data.get("default", False)
    if default not in (True, False):
        c.add((*path, "default"), "default must be true or false")
    if default and data.get("when"):
        c.add((*path, "when"), "a default row has no condition: it fires when no other row of its table fires")
    when = parse_condition(c, data.get("when"), (*path, "when"))
    then = data.get("then") or {}
    if not isinstance(then, dict):
        c.add((*path, "then"), "'then' must be a mapping of output sections")
        then = {}
    if (sources.get(source) or {}).get("kind") == "evidence":
        wrong = set(then) - EVIDENCE_SECTIONS
        if wrong:
            c.add((*path, "then"), f"a newer-evidence row may not output {', '.join(sorted(wrong))} (it never changes "
                                   "what the guidelines say)", ", ".join(sorted(EVIDENCE_SECTIONS)))
    elif "evidence" in then:
        c.add((*path, "then", "evidence"), "only rows of an evidence source output evidence items")
    bad = set(then) - THEN_KEYS
    if bad:
        c.add((*path, "then"), f"unknown output section(s): {', '.join(sorted(bad))}", ", ".join(sorted(THEN_KEYS)))
    position = _position(c, vocab, sources, data.get("position"), (*path, "position"), source)
    if not then and position is None:
        c.add(path, f"row {rid} recommends nothing ('then' is empty and there is no 'position')")
    strategies = []
    for i, s in enumerate(then.get("strategies") or []):
        sp = (*path, "then", "strategies", i)
        if not isinstance(s, dict) or not isinstance(s.get("steps"), list) or not s["steps"]:
            c.add(sp, "a strategy needs a non-empty list of 'steps'")
            continue
        if not _text(s.get("label")):
            c.add((*sp, "label"), f"strategy {i + 1} of row {rid} needs a 'label': a short name saying what it does, "
                                  "faithful to its steps (e.g. 'Systemic therapy, then restage')")
        steps = [parse_step(c, vocab, st, (*sp, "steps", j)) for j, st in enumerate(s["steps"])]
        strategies.append(Strategy(tuple(x for x in steps if x), _text(s.get("label")), _text(s.get("note")),
                                   parse_cites(c, s.get("cite"), (*sp, "cite"), sources)))
    outputs: dict[str, tuple[OutItem, ...]] = {}
    for section in SECTIONS:
        if section not in then:
            continue
        raw = then[section]
        raw = raw if isinstance(raw, list) else [raw]
        items = [parse_item(c, vocab, sources, section, it, (*path, "then", section, i)) for i, it in enumerate(raw)]
        outputs[section] = tuple(x for x in items if x)
    return Row(
        id=rid, table_id=table_id, title=_text(data.get("title")) or rid, when=when, default=bool(default),
        citations=cites, note=_text(data.get("note")), strategies=tuple(strategies), outputs=outputs,
        position=position, line=c.line(path), file=file,
    )


def parse_table_file(text: str, file: str, vocab: Vocabulary, sources: dict) -> tuple[list[Table], list[Problem]]:
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    tables: list[Table] = []
    if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
        c.add((), "a knowledge file needs 'source' and a list of 'tables'")
        return [], c.problems
    source = data.get("source")
    if source not in sources:
        c.add(("source",), f"unknown source {source!r}", ", ".join(sources))
    for ti, t in enumerate(data["tables"]):
        tp = ("tables", ti)
        if not isinstance(t, dict):
            c.add(tp, "a table must be a mapping")
            continue
        extra = set(t) - TABLE_KEYS
        if extra:
            c.add(tp, f"unknown table key(s): {', '.join(sorted(extra))}", ", ".join(sorted(TABLE_KEYS)))
        tid = t.get("id")
        if not isinstance(tid, str) or not tid:
            c.add((*tp, "id"), "a table needs an 'id'")
            continue
        hit = t.get("hit")
        if hit not in HIT_POLICIES:
            c.add((*tp, "hit"), f"bad hit policy {hit!r}", ", ".join(HIT_POLICIES))
        applies = parse_condition(c, t.get("applies"), (*tp, "applies"))
        table_cites = parse_cites(c, t.get("cite"), (*tp, "cite"), sources)
        rows = []
        for ri, r in enumerate(t.get("rows") or []):
            row = parse_row(c, vocab, sources, tid, r, (*tp, "rows", ri), file, table_cites, str(source))
            if row is not None:
                rows.append(replace(row, version=row_digest(r, t, str(source))))
        if not rows:
            c.add((*tp, "rows"), f"table {tid} has no rows")
        defaults = [r.id for r in rows if r.default]
        if len(defaults) > 1:
            c.add((*tp, "rows"), f"table {tid} has more than one default row: {', '.join(defaults)}")
        tables.append(Table(tid, _text(t.get("title")) or tid, str(source), hit if hit in HIT_POLICIES else "collect",
                            applies, tuple(rows), file, c.line(tp),
                            evidence=(sources.get(source) or {}).get("kind") == "evidence"))
    return tables, c.problems


# --- safety invariants ----------------------------------------------------------------------------

def parse_invariants(text: str, file: str, vocab: Vocabulary, sources: dict) -> tuple[list[Invariant], list[Problem]]:
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: list[Invariant] = []
    for i, inv in enumerate((data or {}).get("invariants") or []):
        p = ("invariants", i)
        kinds = [k for k in ("forbid", "require", "max_months", "forbid_together", "caveat") if k in inv]
        if len(kinds) != 1:
            c.add(p, "an invariant has exactly one of forbid, require, max_months, forbid_together, caveat")
            continue
        kind = kinds[0]
        cites = parse_cites(c, inv.get("cite"), (*p, "cite"), sources)
        if not cites:
            c.add(p, f"invariant {inv.get('id')} has no citation")
        sel, limit, classes, caveat_code = None, None, (), None
        body = inv[kind]
        if kind in ("forbid", "require"):
            sel = _selector(c, vocab, body, (*p, kind))
        elif kind == "caveat":
            body = dict(body or {})
            caveat_code = body.pop("warning", None)
            if not _code(c, vocab, "warnings", caveat_code, (*p, kind, "warning")):
                continue
            _must_be_safety(c, vocab, caveat_code, (*p, kind, "warning"), inv.get("id"))
            sel = _selector(c, vocab, body, (*p, kind))
        elif kind == "max_months":
            limit = body.get("limit")
            classes = tuple(body.get("action_class") or ())
        else:
            classes = tuple(body or ())
            for j, k in enumerate(classes):
                if not vocab.has("drug_classes", k):
                    c.add((*p, kind, j), f"unknown drug class {k!r}", ", ".join(vocab.codes("drug_classes")))
        when = parse_condition(c, inv["when"], (*p, "when")) if "when" in inv else None
        unless = parse_condition(c, inv["unless"], (*p, "unless")) if "unless" in inv else None
        exempt = inv.get("exempt") or {}
        exempt_classes = tuple(exempt.get("drug_class") or ())
        for j, k in enumerate(exempt_classes):
            if not vocab.has("drug_classes", k):
                c.add((*p, "exempt", "drug_class", j), f"unknown drug class {k!r}")
        exempt_when = parse_condition(c, exempt["when"], (*p, "exempt", "when")) if "when" in exempt else None
        warning_codes = inv.get("warnings") or []
        if not isinstance(warning_codes, list):
            c.add((*p, "warnings"), "warnings is a list of warning codes")
            warning_codes = []
        for j, w in enumerate(warning_codes):
            if _code(c, vocab, "warnings", w, (*p, "warnings", j)):
                _must_be_safety(c, vocab, w, (*p, "warnings", j), inv.get("id"))
        if exempt and (kind != "forbid" or not exempt_classes or exempt_when is None):
            c.add((*p, "exempt"), "an exemption belongs to a forbid invariant and needs drug_class and when")
        out.append(Invariant(
            id=str(inv.get("id")), text=_text(inv.get("text")) or "", citations=cites, kind=kind, selector=sel,
            when=when, unless=unless, limit=limit, classes=classes,
            when_check=compile_expr(when) if when is not None else None,
            unless_check=compile_expr(unless) if unless is not None else None,
            exempt_classes=exempt_classes, exempt_when=exempt_when,
            exempt_check=compile_expr(exempt_when) if exempt_when is not None else None,
            caveat_code=caveat_code, warning_codes=tuple(str(w) for w in warning_codes),
        ))
    return out, c.problems


def _must_be_safety(c: _Collector, vocab: Vocabulary, code: str, path: Path_, invariant: Any) -> None:
    """A warning that states a safety invariant to the reader is a safety warning (decision record 0038)."""
    severity = vocab.get("warnings", code).severity
    if severity != "safety":
        c.add(path, f"warning {code} states safety invariant {invariant}, so its severity must be safety "
                    f"(the vocabulary says {severity})")


CAVEAT_KEYS = {"id", "when", "regimens", "warning", "note", "cite", "demote"}


def parse_caveats(text: str, file: str, vocab: Vocabulary, sources: dict) -> tuple[list[CaveatRule], list[Problem]]:
    """caveats.yaml: when a condition holds, the regimens a selector picks carry a cited warning as caveat."""
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: list[CaveatRule] = []
    seen: set[str] = set()
    for i, item in enumerate((data or {}).get("caveats") or []):
        p = ("caveats", i)
        if not isinstance(item, dict) or set(item) - CAVEAT_KEYS or not {"id", "when", "regimens", "warning"} <= set(
                item):
            c.add(p, "a caveat has id, when, regimens (a selector), warning, cite (and optional note, demote)",
                  ", ".join(sorted(CAVEAT_KEYS)))
            continue
        cid = str(item["id"])
        if cid in seen:
            c.add((*p, "id"), f"duplicate caveat id {cid}")
        seen.add(cid)
        cites = parse_cites(c, item.get("cite"), (*p, "cite"), sources)
        if not cites:
            c.add(p, f"caveat {cid} has no citation")
        if not _code(c, vocab, "warnings", item["warning"], (*p, "warning")):
            continue
        when = parse_condition(c, item["when"], (*p, "when"))
        out.append(CaveatRule(id=cid, when=when, selector=_selector(c, vocab, item["regimens"], (*p, "regimens")),
                              code=item["warning"], citations=cites, note=_text(item.get("note")),
                              demote=item.get("demote", True) is not False, when_check=compile_expr(when)))
    return out, c.problems


INDICATION_KEYS = {"when", "cite", "note"}


def parse_indications(text: str, file: str, vocab: Vocabulary,
                      sources: dict) -> tuple[dict[str, Indication], list[Problem]]:
    """indications.yaml: per trial term, the population of its full approval as a condition (decision record
    0033). Only a trial whose approval is regular or traditional is shown as the current standard, and only where
    its indication holds; an entry for a trial not (yet) so approved waits for it."""
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: dict[str, Indication] = {}
    entries = (data or {}).get("indications") if isinstance(data, dict) else None
    if entries is not None and not isinstance(entries, dict):
        c.add(("indications",), "indications is a mapping of trial codes")
        return out, c.problems
    for code, body in (entries or {}).items():
        p = ("indications", code)
        if not _code(c, vocab, "trials", code, p):
            continue
        if not isinstance(body, dict) or set(body) - INDICATION_KEYS or "when" not in body:
            c.add(p, "an indication has when (a condition) and cite (and optional note)",
                  ", ".join(sorted(INDICATION_KEYS)))
            continue
        cites = parse_cites(c, body.get("cite"), (*p, "cite"), sources)
        if not cites:
            c.add(p, f"the indication of {code} has no citation")
        when = parse_condition(c, body["when"], (*p, "when"))
        out[code] = Indication(code=code, when=when, citations=cites, note=_text(body.get("note")), line=c.line(p),
                               check=compile_expr(when))
    return out, c.problems


def _selector(c: _Collector, vocab: Vocabulary, body: Any, path: Path_) -> Selector:
    body = body or {}
    checks = {"action_class": None, "drug_class": "drug_classes", "drug": "drugs", "code": None,
              "without_drug_class": "drug_classes"}
    for key, section in checks.items():
        for j, v in enumerate(body.get(key) or []):
            if section and not vocab.has(section, v):
                c.add((*path, key, j), f"unknown {section} {v!r}")
    classes = {t.klass for t in vocab.terms["actions"].values()}
    for j, v in enumerate(body.get("action_class") or []):
        if v not in classes:
            c.add((*path, "action_class", j), f"unknown action class {v!r}", ", ".join(sorted(classes)))
    keys = ("sections", "action_class", "drug_class", "drug", "code", "combination", "without_drug_class")
    extra = set(body) - set(keys)
    if extra:
        c.add(path, f"unknown selector key(s): {', '.join(sorted(extra))}", ", ".join(keys))
    return Selector(
        sections=tuple(body.get("sections") or ()), action_class=tuple(body.get("action_class") or ()),
        drug_class=tuple(body.get("drug_class") or ()), drug=tuple(body.get("drug") or ()),
        code=tuple(body.get("code") or ()), combination=bool(body.get("combination")),
        without_drug_class=tuple(body.get("without_drug_class") or ()),
    )


def parse_constraints(text: str, file: str) -> tuple[list[Constraint], list[Problem]]:
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: list[Constraint] = []
    seen: set[str] = set()
    for i, item in enumerate((data or {}).get("constraints") or []):
        p = ("constraints", i)
        if not isinstance(item, dict) or set(item) - {"id", "if", "then", "text"} or "then" not in item:
            c.add(p, "a constraint has id, if, then (and optional text)")
            continue
        cid = str(item.get("id"))
        if cid in seen:
            c.add((*p, "id"), f"duplicate constraint id {cid}")
        seen.add(cid)
        out.append(Constraint(cid, parse_condition(c, item.get("if"), (*p, "if")),
                              parse_condition(c, item["then"], (*p, "then")), c.line(p)))
    return out, c.problems


# --- the whole knowledge base ---------------------------------------------------------------------

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


def default_data_dir() -> Path:
    return Path(str(resources.files("mcrc.knowledge").joinpath("data")))


def load_knowledge_dir(data_dir: Path | str | None = None) -> KnowledgeBase:
    """Load every knowledge file from a directory (the packaged one by default)."""
    root = Path(data_dir) if data_dir else default_data_dir()
    digest = hashlib.sha256()
    problems: list[Problem] = []

    def read(name: str) -> str:
        path = root / name
        if not path.is_file():
            raise KnowledgeError([Problem(str(path), "missing knowledge file")])
        text = path.read_text(encoding="utf-8")
        digest.update(name.encode() + b"\0" + text.encode())
        return text

    sources, problems = parse_sources(read("sources.yaml"), "sources.yaml")
    if problems:
        raise KnowledgeError(problems)
    parts = []
    for path in vocabulary_files(root):
        data, lines = read_yaml(read(path.name), path.name)
        problems += _check_vocabulary_data(data, lines, path.name)
        parts.append((path.name, data))
    vocab_data, duplicates = merge_vocabulary_data(parts)
    problems += [Problem(d.split(":")[0], d.split(": ", 1)[1]) for d in duplicates]
    if problems:
        raise KnowledgeError(problems)
    vocab = parse_vocabulary(vocab_data)
    problems += _check_vocabulary(vocab)
    definitions: Definitions = parse_definitions(read_yaml(read("definitions.yaml"), "definitions.yaml")[0] or {})
    for spec in FACTS.values():
        if spec.definition and spec.definition not in definitions.items:
            problems.append(Problem("definitions.yaml", f"fact {spec.name} implements missing definition "
                                                         f"{spec.definition!r}"))
    tables: list[Table] = []
    for path in sorted((root / "tables").glob("*.yaml")):
        name = f"tables/{path.name}"
        t, p = parse_table_file(read(name), name, vocab, sources)
        tables += t
        problems += p
    invariants, p = parse_invariants(read("safety.yaml"), "safety.yaml", vocab, sources)
    problems += p
    constraints, p = parse_constraints(read("constraints.yaml"), "constraints.yaml")
    problems += p
    # caveats.yaml is optional (a knowledge base without caveat rules has none)
    caveats, p = parse_caveats(read("caveats.yaml"), "caveats.yaml", vocab, sources) \
        if (root / "caveats.yaml").is_file() else ([], [])
    problems += p
    # indications.yaml is optional too (without it no newer option is ever shown as the current standard)
    indications, p = parse_indications(read("indications.yaml"), "indications.yaml", vocab, sources) \
        if (root / "indications.yaml").is_file() else ({}, [])
    problems += p
    # presumptions.yaml is optional (without it there is no provisional answer, only the strict one)
    presumptions: list = []
    if (root / "presumptions.yaml").is_file():
        data, lines = read_yaml(read("presumptions.yaml"), "presumptions.yaml")
        pc = _Collector("presumptions.yaml", lines)
        presumptions = parse_presumptions(data, pc, sources, parse_condition, parse_cites)
        problems += pc.problems
    seen_tables: set[str] = set()
    rows: dict[str, Row] = {}
    for t in tables:
        if t.id in seen_tables:
            problems.append(Problem(f"{t.file}:{t.line}", f"duplicate table id {t.id}"))
        seen_tables.add(t.id)
        for r in t.rows:
            if r.id in rows:
                problems.append(Problem(f"{r.file}:{r.line}", f"duplicate row id {r.id}"))
            rows[r.id] = r
    if problems:
        raise KnowledgeError(problems)
    compiled = tuple(_compile_table(t, vocab) for t in tables)
    rows = {r.id: r for t in compiled for r in t.rows}
    version = digest.hexdigest()[:12]
    # reviews.yaml is optional and not part of the version (decision record 0029): reviews are about the rows
    row_versions = {rid: r.version for rid, r in rows.items()}
    entries = []
    if (root / REVIEWS_FILE).is_file():
        data, lines = read_yaml((root / REVIEWS_FILE).read_text(encoding="utf-8"), REVIEWS_FILE)
        entries, p = parse_reviews(data, lines, REVIEWS_FILE, row_versions)
        if p:
            raise KnowledgeError(p)
    kb = KnowledgeBase(
        version=version, tables=compiled, vocabulary=vocab, definitions=definitions,
        sources=sources, invariants=tuple(invariants), rows=rows, constraints=tuple(constraints),
        caveats=tuple(caveats), indications=indications, presumptions=tuple(presumptions),
        reviews=build_book(version, row_versions, entries),
        trace_dir=root / "trace",
    )
    compiled_tables(kb)  # the Python backend: generated code per table, built once here (decision record 0047)
    return kb


def _terms(row: Row, vocab: Vocabulary) -> list[Any]:
    """The vocabulary terms a row's outputs stand for (part of the row's version): the meaning of its codes."""
    wanted: list[tuple[str, str]] = []
    for st in row.strategies:
        for step in st.steps:
            wanted.append(("actions", step.code))
            wanted += [("regimens", r) for r in step.regimens]
    for section, items in row.outputs.items():
        wanted += [(SECTIONS[section], i.code) for i in items]
    if row.position is not None:
        wanted += [("topics", row.position.topic), ("stances", row.position.stance)]
    for section, code in list(wanted):
        if section == "regimens" and vocab.has("regimens", code):
            wanted += [("drugs", d) for d in vocab.get("regimens", code).drugs]
    out = []
    for section, code in sorted(set(wanted)):
        t = vocab.get(section, code)
        out.append([section, code, t.label, t.definition, t.klass, list(t.drugs), t.meta])
    return out


def _compile_table(t: Table, vocab: Vocabulary) -> Table:
    rows = []
    for r in t.rows:
        checks = tuple((e, e.text(), compile_expr(e)) for e in conjuncts(r.when))
        rows.append(replace(r, checks=checks, fns=tuple(c[2] for c in checks),
                            check_facts=tuple(frozenset(facts_of(c[0])) for c in checks), all_codes=tuple(r.codes()),
                            version=row_version(r.version, _terms(r, vocab))))
    return replace(t, rows=tuple(rows), applies_check=compile_expr(t.applies),
                   applies_facts=frozenset(facts_of(t.applies)))
