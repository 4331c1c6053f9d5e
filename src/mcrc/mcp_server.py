"""`mcrc mcp`: the engine as a Model Context Protocol server, so an assistant relays the engine's cited answer
instead of choosing treatment itself (issue 21 item 4, decision record 0042, docs/mcp.md).

A thin layer over the public functions: `mcrc.assess` with the strict JSON reader and the FHIR reader for input,
the board summary (`render_summary_text`) and the Assessment JSON for output, the loaded knowledge base for rows,
vocabulary, sources and the traceability matrix. Nothing clinical is decided here.

Every tool answer opens with the engine statement: the engine and knowledge-base digest that produced it (the
Assessment's `provenance.kb_version`), so an assistant can quote the answer verbatim and a reader can tell which
knowledge it came from. No tool takes free text as a patient: `assess` takes a Patient JSON object or a FHIR
Bundle, checked by the same strict reader as every other entry point. Bad arguments are tool errors
(`is_error`) with a specific message, never a traceback; an input over `MAX_INPUT_BYTES` is refused.

The SDK is imported here only, and this module only by the `mcp` command, so `mcrc`'s other commands do not pay
for it at start-up.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import sys
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from mcrc import strictjson
from mcrc.engine import assess as engine_assess
from mcrc.engine.branches import value_words
from mcrc.engine.evaluate import ENGINE_VERSION
from mcrc.errors import InputError, McrcError
from mcrc.facts.catalog import FACTS
from mcrc.knowledge import KnowledgeBase, load_knowledge
from mcrc.knowledge.expr import And, Cmp, Eq, In, Known, Not, Or
from mcrc.knowledge.model import SECTIONS as OUTPUT_SECTIONS
from mcrc.patient import Patient, parse_patient
from mcrc.vocabulary import SECTIONS as VOCABULARY_SECTIONS

# The REST API refuses request bodies over 1,000,000 bytes (`max_body_bytes`, docs/api.md); a tool argument holding
# a patient or a Bundle is held to the same size, counted as compact UTF-8 JSON.
MAX_INPUT_BYTES = 1_000_000
MAX_QUERY_CHARS = 200
MAX_RESULTS = 50
SERVER_NAME = "mcrc"

INSTRUCTIONS = (
    "mcrc is a deterministic, cited decision-support engine for metastatic colorectal cancer tumour boards. "
    "Do not choose or invent treatment yourself: call `assess` with a structured patient (the JSON Schema from "
    "`patient_schema`) or an mCODE FHIR R4 Bundle, and relay its answer verbatim with its citations and its "
    "engine statement (engine version and knowledge-base digest). Free text is not a patient: ask for the "
    "structured record. Unknown facts stay unknown; the answer says what would settle them. `explain_row` and "
    "`search_knowledge` show where a recommendation comes from."
)


# ---- the engine statement --------------------------------------------------------------------------------------

def statement(kb_version: str, engine_version: str = ENGINE_VERSION) -> str:
    """The sentence every tool answer opens with."""
    return (f"This is the output of the mcrc decision-support engine {engine_version} with knowledge base "
            f"{kb_version} (its digest). Quote it verbatim with its citations; do not add, drop or change "
            "recommendations. It supports, and does not replace, the tumour board's judgement.")


class EngineAnswer(BaseModel):
    statement: str = Field(description="Who produced this answer: the engine version and knowledge-base digest")
    engine_version: str
    kb_version: str = Field(description="The knowledge-base digest (Assessment.provenance.kb_version)")


class Citation(BaseModel):
    source: str
    title: str
    where: str
    footnote: str | None = None


class AssessAnswer(EngineAnswer):
    input_kind: str = Field(description="patient (Patient JSON) or fhir_bundle")
    summary_text: str = Field(description="The board summary as the terminal shows it (with `full_report`: the "
                                          "whole report, as `mcrc recommend` prints it)")
    scope: str
    citations: list[Citation] = Field(description="Every citation in the answer, once each, in order of first use")
    fhir_not_mapped: list[str] = Field(default_factory=list, description="Bundle content not read (FHIR input)")
    fhir_warnings: list[str] = Field(default_factory=list)
    assessment: dict[str, Any] = Field(description="The structured Assessment (schema mcrc.assessment/1, "
                                                   "docs/assessment-json.md)")


class RowAnswer(EngineAnswer):
    row: dict[str, Any]


class SearchAnswer(EngineAnswer):
    query: str
    rows: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    truncated: bool


class VocabularyAnswer(EngineAnswer):
    sections: dict[str, list[dict[str, Any]]]


class SchemaAnswer(EngineAnswer):
    schema_: dict[str, Any] = Field(alias="schema", serialization_alias="schema")


def _result(answer: EngineAnswer, text: str) -> CallToolResult:
    """The answer as structured content, and for clients that read text only: the statement, the text, then the
    same structured content as JSON."""
    data = answer.model_dump(mode="json", by_alias=True)
    body = json.dumps(data, ensure_ascii=False, indent=1)
    return CallToolResult(content=[TextContent(type="text", text=f"{answer.statement}\n\n{text}"),
                                   TextContent(type="text", text=body)],
                          structured_content=data)


# ---- input -----------------------------------------------------------------------------------------------------

def _document(value: Any, what: str, schema_hint: str) -> Any:
    """A JSON object given either as an object or as JSON text, through the strict reader, size-checked.

    Free text (a string that is not JSON) is refused: a patient is a structured record."""
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
        if size > MAX_INPUT_BYTES:
            raise ToolError(f"{what} is {size:,} bytes; the limit is {MAX_INPUT_BYTES:,} bytes (the REST API's request "
                        "size limit)")
        if not value.lstrip().startswith(("{", "[")):
            raise ToolError(f"{what} must be a JSON object ({schema_hint}), not free text; mcrc does not read "
                        "narrative reports as a patient")
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        except (TypeError, ValueError) as exc:  # pragma: no cover - the transport hands over JSON values only
            raise ToolError(f"{what} is not JSON: {exc}") from None
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_INPUT_BYTES:
            raise ToolError(f"{what} is {size:,} bytes as JSON; the limit is {MAX_INPUT_BYTES:,} bytes (the REST API's "
                        "request size limit)")
    try:
        doc = strictjson.loads(text, max_bytes=MAX_INPUT_BYTES)
    except McrcError as exc:
        raise ToolError(f"{what}: {exc}") from None
    if not isinstance(doc, dict):
        raise ToolError(f"{what} must be a JSON object ({schema_hint}), got {_json_kind(doc)}")
    return doc


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _citations(kb: KnowledgeBase, dumped: dict[str, Any]) -> list[Citation]:
    """Every citation in the answer (not the trace), once each, in order of first appearance."""
    seen: dict[tuple, Citation] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("source"), str) and isinstance(value.get("where"), str) \
                    and set(value) <= {"source", "where", "footnote"}:
                key = (value["source"], value["where"], value.get("footnote"))
                if key not in seen:
                    title = (kb.sources.get(value["source"]) or {}).get("title") or value["source"]
                    seen[key] = Citation(source=key[0], title=title, where=key[1], footnote=key[2])
                return
            for k, v in value.items():
                if k != "trace":
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(dumped)
    return list(seen.values())


# ---- conditions in words ---------------------------------------------------------------------------------------

_OPS = {"lt": "less than", "le": "at most", "gt": "more than", "ge": "at least", "ne": "not"}


def _fact_words(fact: str) -> str:
    spec = FACTS.get(fact)
    return f"{spec.doc} [{fact}]" if spec else fact


def condition_words(e: Any) -> str:
    """A row condition in words: each fact's meaning from the fact catalog, its code in brackets."""
    if isinstance(e, Eq):
        return f"{_fact_words(e.fact)}: {value_words(e.value)}"
    if isinstance(e, In):
        return f"{_fact_words(e.fact)}: one of {', '.join(value_words(v) for v in e.values)}"
    if isinstance(e, Cmp):
        return f"{_fact_words(e.fact)}: {_OPS[e.op]} {value_words(e.value)}"
    if isinstance(e, Known):
        return f"{_fact_words(e.fact)}: {'known' if e.known else 'not known'}"
    if isinstance(e, And):
        return "always" if not e.items else " AND ".join(f"({condition_words(i)})" for i in e.items)
    if isinstance(e, Or):
        return " OR ".join(f"({condition_words(i)})" for i in e.items)
    if isinstance(e, Not):
        return f"NOT ({condition_words(e.item)})"
    return str(e)  # pragma: no cover - the condition tree has no other node


def _label(kb: KnowledgeBase, section: str, code: str) -> str:
    return kb.vocabulary.get(section, code).label if kb.vocabulary.has(section, code) else code


def row_view(kb: KnowledgeBase, row_id: str) -> dict[str, Any]:
    row = kb.rows[row_id]
    table = kb.table(row.table_id)
    review = kb.review_of(row.id)
    cites = [{"source": c.source, "title": (kb.sources.get(c.source) or {}).get("title") or c.source,
              "where": c.where, "footnote": c.footnote} for c in row.citations]
    strategies = []
    for s in row.strategies:
        steps = []
        for st in s.steps:
            step: dict[str, Any] = {"code": st.code, "label": _label(kb, "actions", st.code)}
            if st.months is not None:
                step["months"] = st.months
            if st.max_months is not None:
                step["max_months"] = st.max_months
            if st.every_months is not None:
                step["every_months"] = st.every_months
            if st.regimens:
                step["regimens"] = [{"code": r, "label": _label(kb, "regimens", r)} for r in st.regimens]
            if st.note:
                step["note"] = st.note
            steps.append(step)
        strategies.append({"label": s.label, "steps": steps, "note": s.note,
                           "citations": [c.as_dict() for c in s.citations]})
    outputs = {section: [{"code": i.code, "label": _label(kb, OUTPUT_SECTIONS.get(section, section), i.code),
                          **({"note": i.note} if i.note else {}),
                          **({"citations": [c.as_dict() for c in i.citations]} if i.citations else {})}
                         for i in items]
               for section, items in row.outputs.items()}
    statements = [{"id": s.id, "source": s.source, "where": s.where, "paraphrase": s.paraphrase}
                  for s in kb.trace.statements_of_row(row.id)]
    return {
        "id": row.id, "title": row.title, "file": f"{row.file}:{row.line}",
        "table": {"id": table.id, "title": table.title, "source": table.source, "hit_policy": table.hit},
        "default_row": row.default,
        "conditions": [] if row.default else [c.text() for c in row.conditions()],
        "conditions_in_words": ("fires when no other row of its table fires" if row.default
                                else [condition_words(c) for c in row.conditions()]),
        "note": row.note, "strategies": strategies, "outputs": outputs, "citations": cites,
        "source_statements": statements,
        "version": row.version,
        "clinical_review": review.status,
    }


def _row_text(v: dict[str, Any]) -> str:
    lines = [f"Row {v['id']} ({v['file']}) in table {v['table']['id']} ({v['table']['hit_policy']} hit): "
             f"{v['table']['title']}", f"Situation: {v['title']}"]
    if v["default_row"]:
        lines.append("When: " + v["conditions_in_words"])
    else:
        lines.append("When all of:")
        lines += [f"  - {w}" for w in v["conditions_in_words"]]
    if v["note"]:
        lines.append(f"Note: {v['note']}")
    for i, s in enumerate(v["strategies"], start=1):
        head = f"Strategy {i}" + (f" ({s['label']})" if s["label"] else "")
        lines.append(f"{head}: " + " -> ".join(st["label"] for st in s["steps"]))
    for section, items in v["outputs"].items():
        lines.append(f"{section}: " + "; ".join(f"{i['label']} [{i['code']}]" for i in items))
    lines += [f"Cites: {c['title']} [{c['source']}], {c['where']}" + (f", footnote {c['footnote']}"
                                                                      if c["footnote"] else "")
              for c in v["citations"]]
    lines += [f"Encodes source statement {s['id']} ({s['where']}): {s['paraphrase']}"
              for s in v["source_statements"]]
    lines.append(f"Clinical review: {v['clinical_review'].replace('_', ' ')} (row version {v['version']})")
    return "\n".join(lines)


# ---- search ----------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[\w.+-]+")


def _words(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)]


def search(kb: KnowledgeBase, query: str, limit: int) -> tuple[list[dict], list[dict], bool]:
    """Rows and source statements containing every word of the query (case-insensitive), the most mentions first."""
    words = _words(query)
    rows, statements = [], []
    for row in kb.rows.values():
        labels = " ".join(_label(kb, s, c) for s in ("actions", "regimens", "warnings", "tests", "goals",
                                                      "considerations", "referrals") for c in row.codes()
                          if kb.vocabulary.has(s, c))
        text = " ".join([row.id, row.title, row.note or "", " ".join(row.codes()), labels,
                         " ".join(c.text() for c in row.citations)]).lower()
        if all(w in text for w in words):
            rows.append((sum(text.count(w) for w in words), {"id": row.id, "table": row.table_id,
                                                             "title": row.title}))
    for s in kb.trace.statements():
        text = " ".join([s.id, s.source, s.section, s.where, s.paraphrase, s.note or ""]).lower()
        if all(w in text for w in words):
            statements.append((sum(text.count(w) for w in words),
                               {"id": s.id, "source": s.source, "section": s.section, "where": s.where,
                                "paraphrase": s.paraphrase, "status": s.status, "rows": list(s.rows)}))
    truncated = len(rows) > limit or len(statements) > limit
    rows.sort(key=lambda x: -x[0])
    statements.sort(key=lambda x: -x[0])
    return [r for _, r in rows[:limit]], [s for _, s in statements[:limit]], truncated


# ---- the server ------------------------------------------------------------------------------------------------

def _arguments_message(exc: ValidationError) -> str:
    """The SDK's argument validation error in a few words: each argument with what was wrong (no pydantic links,
    no echo of the value)."""
    by_arg: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False, include_input=False):
        arg = str(err["loc"][0]) if err.get("loc") else "(arguments)"
        msg = err["msg"]
        if msg not in by_arg.setdefault(arg, []):
            by_arg[arg].append(msg)
    return "bad arguments: " + "; ".join(f"{arg}: {' or '.join(msgs)}" for arg, msgs in by_arg.items())


_PATIENT_HINT = "the Patient schema: patient_schema"
_BUNDLE_HINT = "a FHIR R4 Bundle"
# tool -> argument -> what it must be: the arguments that may be given as JSON text
_JSON_TEXT_ARGUMENTS = {"assess": {"patient": _PATIENT_HINT, "fhir_bundle": _BUNDLE_HINT}}


class _Server(MCPServer):
    """MCPServer, with unknown arguments refused by name and argument validation errors in a few words."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        tool = self._tool_manager.get_tool(name)  # the SDK's own registry (mcp 2.3.0, pinned)
        if tool is not None and isinstance(arguments, dict):
            allowed = list((tool.parameters or {}).get("properties", {}))
            extra = [k for k in arguments if k not in allowed]
            if extra:
                raise ToolError(f"Error executing tool {name}: unknown argument(s) {', '.join(map(repr, extra))}; "
                                f"allowed: {', '.join(allowed) or 'none'}")
        for key, hint in _JSON_TEXT_ARGUMENTS.get(name, {}).items():
            if isinstance(arguments, dict) and isinstance(arguments.get(key), str):
                # JSON text goes through the strict reader here: the SDK would parse it leniently first (a repeated
                # key silently kept once), and the tool would only see the result
                try:
                    arguments = {**arguments, key: _document(arguments[key], key, hint)}
                except ToolError as exc:
                    raise ToolError(f"Error executing tool {name}: {exc}") from None
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError) and not isinstance(exc, UnexpectedToolError):
                raise ToolError(f"Error executing tool {name}: {_arguments_message(exc.__cause__)}") \
                    from exc.__cause__
            raise


def build_server(kb: KnowledgeBase | None = None) -> MCPServer:
    """The MCP server over one loaded knowledge base (the packaged one by default)."""
    kb = kb or load_knowledge()
    # the SDK configures the root logger when a server is made; a library call must not (the commands below set
    # up their own logging to standard error)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        server = _Server(SERVER_NAME, title="mcrc: cited decision support for metastatic colorectal cancer",
                         instructions=INSTRUCTIONS, version=ENGINE_VERSION, log_level="WARNING")
    finally:
        root.handlers[:], root.level = handlers, level
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)

    def base() -> dict[str, str]:
        return {"statement": statement(kb.version), "engine_version": ENGINE_VERSION, "kb_version": kb.version}

    @server.tool(annotations=read_only)
    def assess(
        patient: Annotated[dict[str, Any] | str | None, Field(
            description="A Patient record: a JSON object following the schema `patient_schema` returns (or the "
                        "same as JSON text). Not free text.")] = None,
        fhir_bundle: Annotated[dict[str, Any] | str | None, Field(
            description="An mCODE-style FHIR R4 Bundle (JSON object or JSON text), instead of `patient`.")] = None,
        strict: Annotated[bool, Field(strict=True, description="Summarise the strict answer (nothing presumed) "
                                                               "instead of the provisional one")] = False,
        include_trace: Annotated[bool, Field(strict=True, description="Include the evaluation trace of every table "
                                                                      "and row in the Assessment")] = False,
        full_report: Annotated[bool, Field(strict=True, description="Give the whole report (every section: "
                                                                    "strategies, regimens, warnings, tests, "
                                                                    "follow-up...) as text, not only the board "
                                                                    "summary")] = False,
    ) -> Annotated[CallToolResult, AssessAnswer]:
        """Assess one patient with the engine: the board summary, the structured Assessment (goal, strategies,
        regimens, warnings, what is unknown and would change the answer) and every citation. Give exactly one of
        `patient` or `fhir_bundle`. Relay the answer verbatim; it is the engine's, not yours."""
        if (patient is None) == (fhir_bundle is None):
            raise ToolError("give exactly one of `patient` (a Patient JSON object, see patient_schema) or "
                            "`fhir_bundle` (an mCODE FHIR R4 Bundle)"
                            + ("; both were given" if patient is not None else ""))
        not_mapped: list[str] = []
        warnings: list[str] = []
        try:
            if patient is not None:
                kind = "patient"
                record: Patient = parse_patient(_document(patient, "patient", _PATIENT_HINT))
            else:
                from mcrc.fhir import read_bundle

                kind = "fhir_bundle"
                result = read_bundle(_document(fhir_bundle, "fhir_bundle", _BUNDLE_HINT))
                record, not_mapped, warnings = result.patient, list(result.unmapped), list(result.warnings)
            a = engine_assess(record, kb=kb)  # with its trace: the full report counts the rows that fired
        except ToolError:
            raise
        except InputError as exc:
            raise ToolError(f"{kind}: {exc}") from None
        except McrcError as exc:  # the engine refused its own answer (a safety check): say so, never guess
            raise ToolError(f"the engine gave no answer for this {kind}: {exc}") from None
        from mcrc.render.text import render_summary_text, render_text

        summary = (render_text if full_report else render_summary_text)(a, width=100, strict=strict)
        dumped = a.model_dump(mode="json", exclude=None if include_trace else {"trace"})
        cites = _citations(kb, dumped)
        answer = AssessAnswer(statement=statement(a.provenance.kb_version, a.provenance.engine_version),
                              kb_version=a.provenance.kb_version, engine_version=a.provenance.engine_version,
                              input_kind=kind, summary_text=summary, scope=a.scope.status, citations=cites,
                              fhir_not_mapped=not_mapped, fhir_warnings=warnings, assessment=dumped)
        text = summary
        if not_mapped or warnings:
            text += "\n" + "\n".join([*(f"FHIR not mapped: {x}" for x in not_mapped),
                                      *(f"FHIR warning: {x}" for x in warnings)])
        text += "\nCitations:\n" + "\n".join(
            f"  - {c.title} [{c.source}], {c.where}" + (f", footnote {c.footnote}" if c.footnote else "")
            for c in cites)
        return _result(answer, text)

    @server.tool(annotations=read_only)
    def explain_row(
        row_id: Annotated[str, Field(max_length=200, description="A decision row id, e.g. lung.goal.multisite "
                                                                 "(from an Assessment's `rows` or search_knowledge)")],
    ) -> Annotated[CallToolResult, RowAnswer]:
        """One decision row of the knowledge base: its table, its conditions in words, what it recommends, its
        citations, the source statements it encodes and its clinical review status."""
        if row_id not in kb.rows:
            close = difflib.get_close_matches(row_id, list(kb.rows), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; use search_knowledge to find rows"
            raise ToolError(f"no row {row_id!r} in knowledge base {kb.version}{hint}")
        view = row_view(kb, row_id)
        return _result(RowAnswer(**base(), row=view), _row_text(view))

    @server.tool(annotations=read_only)
    def search_knowledge(
        query: Annotated[str, Field(description="Words to find (all must appear), e.g. 'lung sublobar' or "
                                                "'oxaliplatin 12 months'")],
        limit: Annotated[int, Field(strict=True, ge=1, le=MAX_RESULTS,
                                    description="At most this many rows and statements")] = 20,
    ) -> Annotated[CallToolResult, SearchAnswer]:
        """Find decision rows (id, title, note, outputs, citations) and the guideline source statements of the
        traceability matrix (paraphrases, where they sit in the source) that contain every word of the query."""
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"query is {len(query)} characters; at most {MAX_QUERY_CHARS}")
        if not _words(query):
            raise ToolError("query has no words to search for")
        rows, statements, truncated = search(kb, query, limit)
        lines = [f"{len(rows)} row(s), {len(statements)} source statement(s) for {query!r}"
                 + (" (more exist; narrow the query)" if truncated else "") + ":"]
        lines += [f"  row {r['id']}: {r['title']}" for r in rows]
        lines += [f"  statement {s['id']} ({s['source']}, {s['where']}): {s['paraphrase']}" for s in statements]
        return _result(SearchAnswer(**base(), query=query, rows=rows, statements=statements, truncated=truncated),
                       "\n".join(lines))

    @server.tool(annotations=read_only)
    def vocabulary(
        section: Annotated[str | None, Field(description=f"One of: {', '.join(VOCABULARY_SECTIONS)} "
                                                         "(default: every section)")] = None,
    ) -> Annotated[CallToolResult, VocabularyAnswer]:
        """The coded vocabulary the answers use: actions, regimens, drugs, goals, warnings, tests... with each
        code's label, definition and class (regimens: their drugs)."""
        if section is not None and section not in VOCABULARY_SECTIONS:
            raise ToolError(f"unknown section {section!r}; allowed: {', '.join(VOCABULARY_SECTIONS)}")
        names = [section] if section else list(VOCABULARY_SECTIONS)
        sections = {name: [{"code": code, "label": t.label,
                            **({"definition": t.definition} if t.definition else {}),
                            **({"class": t.klass} if t.klass else {}),
                            **({"drugs": list(t.drugs)} if t.drugs else {})}
                           for code, t in kb.vocabulary.terms.get(name, {}).items()] for name in names}
        text = "\n".join(f"{name}: " + "; ".join(f"{t['code']} = {t['label']}" for t in terms)
                         for name, terms in sections.items())
        return _result(VocabularyAnswer(**base(), sections=sections), text)

    @server.tool(annotations=read_only)
    def patient_schema() -> Annotated[CallToolResult, SchemaAnswer]:
        """The JSON Schema of the Patient record `assess` takes (what `mcrc schema` prints). Unknown is not false:
        leave out what is not known rather than guessing a value."""
        schema = Patient.model_json_schema()
        return _result(SchemaAnswer(**base(), schema=schema),
                       "The Patient JSON Schema is in the structured content (and the next text block).")

    @server.resource("mcrc://sources", name="sources", mime_type="application/json",
                     description="The citable sources: kind, edition, year and the newer editions known")
    def sources() -> str:
        from mcrc.render.sources import sources_view

        return json.dumps({**base(), "sources": sources_view(kb)}, ensure_ascii=False, indent=1)

    @server.resource("mcrc://trace", name="traceability", mime_type="application/json",
                     description="The traceability matrix: per guideline source, how many statements are encoded, "
                                 "set aside or open (mcrc://trace/{source} for one source's statements)")
    def trace_summary() -> str:
        from mcrc.render import trace as rt

        return json.dumps({**base(), "sources": rt.summary_rows(kb)}, ensure_ascii=False, indent=1)

    @server.resource("mcrc://trace/{source}", name="traceability_of_source", mime_type="application/json",
                     description="One guideline source's traceability matrix: every clinical statement with the "
                                 "rows that encode it, or why it is not decision logic")
    def trace_source(source: str) -> str:
        from mcrc.render import trace as rt

        if source not in kb.trace.sources:
            raise ResourceNotFoundError(f"no traceability matrix for source {source!r}; sources with one: "
                                        f"{', '.join(kb.trace.sources)}")
        return json.dumps({**base(), **rt.source_view(kb, source)}, ensure_ascii=False, indent=1)

    return server


def log_to_stderr() -> None:
    """Warnings and errors on standard error, one line each (standard output is the protocol's, over stdio)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="mcrc mcp: %(levelname)s %(message)s")


def run_stdio(kb: KnowledgeBase | None = None) -> None:
    log_to_stderr()
    build_server(kb).run("stdio")


# ---- streamable HTTP behind the REST API's tokens --------------------------------------------------------------

MCP_PATH = "/mcp"


class TokenAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer TOKEN` naming an active API token of the
    case store, the REST API's own tokens (`mcrc user token create NAME`), checked by the store's `resolve_token`
    as the API checks them. Otherwise 401 problem+json with `WWW-Authenticate: Bearer`, as the API answers."""

    def __init__(self, app: Any, resolve: Any) -> None:
        self.app, self.resolve = app, resolve

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # the lifespan of the session manager
            return
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"").decode("latin-1")
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            await _problem(send, 401, "unauthorized", "Unauthorized",
                           "an API token is required (Authorization: Bearer TOKEN)")
            return
        from sqlalchemy.exc import SQLAlchemyError

        try:
            who = self.resolve(token.strip())
        except SQLAlchemyError:
            await _problem(send, 503, "store-unavailable", "Store unavailable", "cannot read API tokens")
            return
        if who is None:
            await _problem(send, 401, "unauthorized", "Unauthorized", "the API token is not valid")
            return
        await self.app(scope, receive, send)


async def _problem(send: Any, status: int, kind: str, title: str, detail: str) -> None:
    from mcrc.api.errors import PROBLEM_MEDIA_TYPE, TYPE_BASE

    body = json.dumps({"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail}).encode()
    headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def http_app(kb: KnowledgeBase, resolve_token: Any, max_body_bytes: int = MAX_INPUT_BYTES,
             host: str = "127.0.0.1") -> Any:
    """The MCP server over streamable HTTP at /mcp, behind the REST API's security middleware (body size limit,
    headers, last-resort 500) and its API tokens. `resolve_token(raw)`: the store's, None for a bad token."""
    from mcrc.api.security import SecurityMiddleware

    inner = build_server(kb).streamable_http_app(streamable_http_path=MCP_PATH, max_request_body_size=max_body_bytes,
                                                 host=host)
    return SecurityMiddleware(TokenAuth(inner, resolve_token), max_body_bytes=max_body_bytes)
