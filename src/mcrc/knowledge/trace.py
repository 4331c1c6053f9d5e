"""The traceability matrix: every clinical statement of a guideline source, with what encodes it.

One file per source in `knowledge/data/trace/<source-id>.yaml`. A statement is a short paraphrase of a
section, paragraph, table cell or footnote, with a stable id, where it sits in the source (written as the
knowledge base's citations write it), and either what encodes it (`rows`, and where the encoding is not a row:
`definitions`, `invariants`, `caveats`) or `set_aside` with a reason it is not (yet) decision logic.

The link runs one way, from statement to rows (decision record 0028): rows do not name statements. The matrix
is read on first use (`KnowledgeBase.trace`; no answer depends on it), and a malformed file stops it with
file:line like every other knowledge file. Whether the names it holds exist, and whether every statement is
mapped, is `mcrc verify`'s `traceability` check (`trace_findings`), so a knowledge base whose matrix lags behind
its tables still loads and still answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcrc.errors import KnowledgeError, Problem
from mcrc.knowledge.citation import Citation
from mcrc.knowledge.reading import _Collector, read_yaml

# Why a statement is not mapped to rows. `open` is work still to do (counted and shown, never a failure);
# the others say why the statement is not decision logic or is encoded through another statement or source.
REASONS: dict[str, str] = {
    "background": "background or rationale, no decision follows from it",
    "epidemiology": "epidemiology or outcome figures",
    "covered_elsewhere": "encoded through another statement or source (see)",
    "not_decision_logic": "a remark no rule can act on (scope, attribution, pathology detail...)",
    "deliberately_not_encoded": "decision logic left out on purpose (a decision record says why)",
    "open": "not encoded yet: work still to do",
}
TARGETS: tuple[str, ...] = ("rows", "definitions", "invariants", "caveats")
FILE_KEYS = {"source", "files", "note", "sections"}
SECTION_KEYS = {"title", "statements"}
STATEMENT_KEYS = {"id", "where", "paraphrase", "note", "set_aside", *TARGETS}
SET_ASIDE_KEYS = {"reason", "note", "see"}
STATEMENT_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9.-]*$")
OPEN_NOTE = re.compile(r"^issue \d+: \S")


@dataclass(frozen=True)
class SetAside:
    reason: str
    note: str
    see: tuple[str, ...] = ()


@dataclass(frozen=True)
class Statement:
    id: str
    source: str
    section: str
    where: str
    paraphrase: str
    rows: tuple[str, ...] = ()
    definitions: tuple[str, ...] = ()
    invariants: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    set_aside: SetAside | None = None
    note: str | None = None
    file: str = ""
    line: int | None = None

    @property
    def encoded(self) -> bool:
        return any(getattr(self, kind) for kind in TARGETS)

    @property
    def status(self) -> str:
        """encoded, open, set_aside or unmapped (neither encoded nor set aside: `mcrc verify` fails)."""
        if self.encoded:
            return "encoded"
        if self.set_aside is None:
            return "unmapped"
        return "open" if self.set_aside.reason == "open" else "set_aside"

    def targets(self) -> list[tuple[str, str]]:
        """(kind, id) of everything named as encoding this statement, rows first."""
        return [(kind, name) for kind in TARGETS for name in getattr(self, kind)]

    def where_text(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Section:
    title: str
    statements: tuple[Statement, ...]


@dataclass(frozen=True)
class SourceTrace:
    source: str
    sections: tuple[Section, ...]
    files: tuple[str, ...] = ()
    note: str | None = None
    file: str = ""

    @property
    def statements(self) -> list[Statement]:
        return [s for sec in self.sections for s in sec.statements]

    def counts(self) -> dict[str, Any]:
        """statements, encoded, set_aside (total and by reason, `open` excluded), open, unmapped."""
        out: dict[str, Any] = {"statements": 0, "encoded": 0, "set_aside": 0, "open": 0, "unmapped": 0,
                               "by_reason": {r: 0 for r in REASONS if r != "open"}}
        for s in self.statements:
            out["statements"] += 1
            out[s.status] += 1
            if s.status == "set_aside":
                out["by_reason"][s.set_aside.reason] += 1
        return out


@dataclass(frozen=True)
class Trace:
    """Every source's matrix, by source id (empty when the knowledge directory has no `trace/`)."""

    sources: dict[str, SourceTrace] = field(default_factory=dict)

    def statements(self) -> list[Statement]:
        return [s for t in self.sources.values() for s in t.statements]

    def statement(self, statement_id: str) -> Statement | None:
        for s in self.statements():
            if s.id == statement_id:
                return s
        return None

    def statements_of_row(self, row_id: str) -> list[Statement]:
        return [s for s in self.statements() if row_id in s.rows]


# --- parsing ---------------------------------------------------------------------------------------

def _text(value: Any) -> str | None:
    return None if value is None else " ".join(str(value).split())


def _names(c, value: Any, path: tuple) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        c.add(path, "a non-empty list of ids")
        return ()
    if len(set(value)) != len(value):
        c.add(path, "an id is listed twice")
    return tuple(dict.fromkeys(value))


def parse_trace_file(text: str, file: str, sources: dict) -> tuple[SourceTrace | None, list[Problem]]:
    """One matrix file: its shape only (names are checked against the knowledge base by `trace_findings`)."""
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        c.add((), "a traceability file needs 'source' and a list of 'sections'", ", ".join(sorted(FILE_KEYS)))
        return None, c.problems
    extra = set(data) - FILE_KEYS
    if extra:
        c.add((), f"unknown key(s): {', '.join(sorted(map(str, extra)))}", ", ".join(sorted(FILE_KEYS)))
    source = data.get("source")
    if source not in sources:
        c.add(("source",), f"unknown source {source!r}", ", ".join(sources))
    elif Path(file).stem != source:
        c.add(("source",), f"the file of source {source} must be named {source}.yaml")
    files = data.get("files") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        c.add(("files",), "a list of the source's file names")
        files = []
    sections: list[Section] = []
    for si, sec in enumerate(data["sections"]):
        sp = ("sections", si)
        if not isinstance(sec, dict) or not _text(sec.get("title")) or not isinstance(sec.get("statements"), list) \
                or set(sec) - SECTION_KEYS:
            c.add(sp, "a section has a 'title' and a list of 'statements'", ", ".join(sorted(SECTION_KEYS)))
            continue
        title = _text(sec["title"]) or ""
        statements = [st for i, item in enumerate(sec["statements"])
                      if (st := _statement(c, item, (*sp, "statements", i), str(source), title, file)) is not None]
        if not statements:
            c.add((*sp, "statements"), f"section {title!r} has no statements")
        sections.append(Section(title, tuple(statements)))
    return SourceTrace(str(source), tuple(sections), tuple(files), _text(data.get("note")), file), c.problems


def _statement(c, data: Any, path: tuple, source: str, section: str, file: str) -> Statement | None:
    if not isinstance(data, dict):
        c.add(path, "a statement is a mapping with id, where, paraphrase and rows or set_aside")
        return None
    extra = set(data) - STATEMENT_KEYS
    if extra:
        c.add(path, f"unknown key(s): {', '.join(sorted(map(str, extra)))}", ", ".join(sorted(STATEMENT_KEYS)))
    sid = data.get("id")
    if not isinstance(sid, str) or not STATEMENT_ID.match(sid):
        c.add((*path, "id"), f"bad statement id {sid!r}", "PREFIX-ID, e.g. LUNG-OV3 (letters, digits, '.', '-')")
        return None
    for key in ("where", "paraphrase"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            c.add((*path, key), f"statement {sid} needs '{key}' (text)")
    targets = {kind: _names(c, data[kind], (*path, kind)) if kind in data else () for kind in TARGETS}
    set_aside = None
    if "set_aside" in data:
        set_aside = _set_aside(c, data["set_aside"], (*path, "set_aside"), sid)
        if any(targets.values()):
            c.add((*path, "set_aside"), f"statement {sid} is either encoded (rows...) or set aside, not both")
    note = data.get("note")
    if note is not None and not (isinstance(note, str) and note.strip()):
        c.add((*path, "note"), "a note is text")
    return Statement(id=sid, source=source, section=section, where=_text(data.get("where")) or "",
                     paraphrase=_text(data.get("paraphrase")) or "", set_aside=set_aside, note=_text(note),
                     file=file, line=c.line(path), **targets)


def _set_aside(c, data: Any, path: tuple, sid: str) -> SetAside | None:
    if not isinstance(data, dict) or set(data) - SET_ASIDE_KEYS:
        c.add(path, "set_aside is a mapping with reason and note (and optional see)", ", ".join(sorted(SET_ASIDE_KEYS)))
        return None
    reason, note = data.get("reason"), _text(data.get("note"))
    if reason not in REASONS:
        c.add((*path, "reason"), f"unknown reason {reason!r}", ", ".join(REASONS))
        return None
    if not note:
        c.add((*path, "note"), f"statement {sid} is set aside without a note saying why")
    elif reason == "open" and not OPEN_NOTE.match(note):
        c.add((*path, "note"), "an open statement's note names the issue that will encode it",
              "issue N: what is missing")
    see = _names(c, data["see"], (*path, "see")) if "see" in data else ()
    if reason == "covered_elsewhere" and not see:
        c.add((*path, "see"), "covered_elsewhere names the statement(s) that carry it ('see')")
    return SetAside(str(reason), note or "", see)


def load_trace_dir(directory: Path, sources: dict) -> tuple[Trace, list[Problem]]:
    """Every `<source>.yaml` in the directory (none, or no directory: an empty matrix)."""
    problems: list[Problem] = []
    found: dict[str, SourceTrace] = {}
    seen: dict[str, Statement] = {}
    if not directory.is_dir():
        return Trace(), problems
    for path in sorted(directory.glob("*.yaml")):
        name = f"trace/{path.name}"
        st, p = parse_trace_file(path.read_text(encoding="utf-8"), name, sources)
        problems += p
        if st is None:
            continue
        if st.source in found:
            problems.append(Problem(name, f"source {st.source} already has a matrix in {found[st.source].file}"))
            continue
        for s in st.statements:
            if s.id in seen:
                problems.append(Problem(s.where_text(), f"duplicate statement id {s.id} (first at "
                                                        f"{seen[s.id].where_text()})"))
            seen.setdefault(s.id, s)
        found[st.source] = st
    order = list(sources)
    return Trace(dict(sorted(found.items(), key=lambda kv: order.index(kv[0])))), problems


def read_trace(directory: Path | None, sources: dict) -> Trace:
    """The matrix of a knowledge directory's `trace/` (KnowledgeBase.trace); KnowledgeError on a malformed file."""
    if directory is None:
        return Trace()
    trace, problems = load_trace_dir(directory, sources)
    if problems:
        raise KnowledgeError(problems)
    return trace


# --- checks against the knowledge base ---------------------------------------------------------------

@dataclass(frozen=True)
class Finding:
    """One reason the matrix and the knowledge base disagree (a `mcrc verify` failure)."""

    subject: str
    message: str


def _cited_sources(kb, kind: str, name: str) -> set[str] | None:
    """The sources a row (any of its citations), definition, invariant or caveat cites; None if it does not exist."""
    if kind == "rows":
        row = kb.rows.get(name)
        if row is None:
            return None
        cites = list(row.citations) + [c for st in row.strategies for c in st.citations]
        cites += [c for items in row.outputs.values() for i in items for c in i.citations]
        return {c.source for c in cites}
    if kind == "definitions":
        d = kb.definitions.items.get(name)
        if d is None:
            return None
        cite = d.cite if isinstance(d.cite, list) else [d.cite]
        return {str(c.get("source")) for c in cite if isinstance(c, dict)}
    pool = kb.invariants if kind == "invariants" else kb.caveats
    item = next((x for x in pool if x.id == name), None)
    return None if item is None else {c.source for c in item.citations}


def guideline_sources(kb) -> list[str]:
    return [sid for sid, src in kb.sources.items() if (src or {}).get("kind") == "guideline"]


def trace_findings(kb) -> list[Finding]:
    """What `mcrc verify` fails on: a guideline source without a matrix, a statement that names a row (or
    definition, invariant, caveat) that does not exist or that cites nothing of the statement's source, a
    `see` naming no statement, and a statement with neither an encoding nor a reason."""
    trace: Trace = kb.trace
    out: list[Finding] = []
    for sid in guideline_sources(kb):
        if sid not in trace.sources:
            out.append(Finding(sid, f"guideline source {sid} has no traceability matrix (trace/{sid}.yaml)"))
    known = {s.id for s in trace.statements()}
    singular = {"rows": "row", "definitions": "definition", "invariants": "invariant", "caveats": "caveat"}
    for s in trace.statements():
        subject = f"{s.id} ({s.where_text()})"
        if s.status == "unmapped":
            out.append(Finding(subject, "statement has neither rows (or another encoding) nor a set_aside reason"))
        for kind, name in s.targets():
            cited = _cited_sources(kb, kind, name)
            if cited is None:
                out.append(Finding(subject, f"names {singular[kind]} {name}, which does not exist"))
            elif s.source not in cited:
                out.append(Finding(subject, f"names {singular[kind]} {name}, which cites nothing of {s.source} "
                                            f"(it cites {', '.join(sorted(cited)) or 'nothing'})"))
        for other in s.set_aside.see if s.set_aside else ():
            if other not in known:
                out.append(Finding(subject, f"'see' names statement {other}, which does not exist"))
    return out


def untraced_rows(kb, source: str) -> list[dict[str, Any]]:
    """The reverse direction, informational only: rows of the source's own tables (or citing the source) that no
    statement of its matrix names. Each entry has the row id and the statements of *other* sources' matrices
    that name it (a lung-table row that carries the liver summary's warning, say); the rest are fallbacks and
    project readings with no statement behind them, or a matrix lagging behind its tables. Never a failure."""
    st = kb.trace.sources.get(source)
    named = {r for s in st.statements for r in s.rows} if st else set()
    own = [r.id for t in kb.tables if t.source == source for r in t.rows]
    own += [r.id for r in kb.rows.values() if r.id not in own and any(c.source == source for c in r.citations)]
    elsewhere: dict[str, list[str]] = {}
    for s in kb.trace.statements():
        if s.source != source:
            for r in s.rows:
                elsewhere.setdefault(r, []).append(s.id)
    return [{"row": r, "statements_elsewhere": elsewhere.get(r, [])} for r in own if r not in named]


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _citations(kb) -> list[tuple[str, Any]]:
    """(who cites, Citation) for every row (its own, its strategies' and its items' citations), invariant,
    caveat and definition."""
    out: list[tuple[str, Any]] = []
    for row in kb.rows.values():
        cites = list(row.citations) + [c for st in row.strategies for c in st.citations]
        cites += [c for items in row.outputs.values() for i in items for c in i.citations]
        out += [(f"row {row.id}", c) for c in dict.fromkeys(cites)]
    out += [(f"invariant {i.id}", c) for i in kb.invariants for c in i.citations]
    out += [(f"caveat {c_.id}", c) for c_ in kb.caveats for c in c_.citations]
    for name, d in kb.definitions.items.items():
        for c in d.cite if isinstance(d.cite, list) else [d.cite]:
            if isinstance(c, dict) and c.get("source") and c.get("where"):
                out.append((f"definition {name}", Citation(str(c["source"]), str(c["where"]),
                                                           None if c.get("footnote") is None else str(c["footnote"]))))
    return out


def unlisted_citations(kb, source: str) -> list[dict[str, Any]]:
    """The other reverse question, informational only: citations of `source` (by a row, invariant, caveat or
    definition) naming a place where its matrix lists no statement. A place matches when its words (each part
    of a `;`-separated list, plus a footnote that is not a reference number) all occur in one statement's `where`
    and section title, so "Fig. 1, note 3" matches a citation of "Fig. 1" with footnote "note 3"."""
    st = kb.trace.sources.get(source)
    if st is None:
        return []
    places = [_tokens(s.where) | _tokens(s.section) for s in st.statements]
    out: list[dict[str, Any]] = []
    for who, c in _citations(kb):
        if c.source != source:
            continue
        note = _tokens(c.footnote) if c.footnote and not c.footnote.lower().startswith("ref") else set()
        for part in c.where.split(";"):
            if not any(_tokens(part) | note <= p for p in places):
                out.append({"cited_by": who, "where": c.where, "footnote": c.footnote})
                break
    return out
