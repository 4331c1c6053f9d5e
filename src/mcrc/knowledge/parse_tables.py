"""Decision-table files parsed and checked: conditions over the fact catalog, citations, output items, strategies
and their steps, rows and tables. Every problem names its file, line and what is allowed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mcrc.catalog import FACTS
from mcrc.errors import Problem
from mcrc.knowledge.expr import TRUE_EXPR, And, Cmp, Eq, Expr, In, Known, Not, Or
from mcrc.knowledge.model import (
    SECTIONS,
    Citation,
    OutItem,
    Position,
    Row,
    Step,
    Strategy,
    Table,
)
from mcrc.knowledge.reading import _Collector, read_yaml
from mcrc.knowledge.reviews import row_digest
from mcrc.vocabulary import (
    Vocabulary,
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
