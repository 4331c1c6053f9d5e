"""The MCP tools: assess a patient, explain a row, search the knowledge, the vocabulary, the Patient schema."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from mcrc.engine import assess as engine_assess
from mcrc.errors import InputError, McrcError
from mcrc.knowledge import KnowledgeBase
from mcrc.mcp.answers import (
    AssessAnswer,
    RowAnswer,
    SchemaAnswer,
    SearchAnswer,
    VocabularyAnswer,
    answer_citations,
    engine_fields,
    statement,
    tool_result,
)
from mcrc.mcp.inputs import BUNDLE_HINT, PATIENT_HINT, json_document
from mcrc.mcp.rows import query_words, row_text, row_view, search
from mcrc.patient import Patient, parse_patient
from mcrc.vocabulary import SECTIONS as VOCABULARY_SECTIONS

MAX_QUERY_CHARS = 200
MAX_RESULTS = 50


def add_tools(server: MCPServer, kb: KnowledgeBase) -> None:
    """The tools, each read-only, over one loaded knowledge base."""
    read_only = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                                open_world_hint=False)

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
                record: Patient = parse_patient(json_document(patient, "patient", PATIENT_HINT))
            else:
                from mcrc.fhir import read_bundle

                kind = "fhir_bundle"
                result = read_bundle(json_document(fhir_bundle, "fhir_bundle", BUNDLE_HINT))
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
        cites = answer_citations(kb, dumped)
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
        return tool_result(answer, text)

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
        return tool_result(RowAnswer(**engine_fields(kb), row=view), row_text(view))

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
        if not query_words(query):
            raise ToolError("query has no words to search for")
        rows, statements, truncated = search(kb, query, limit)
        lines = [f"{len(rows)} row(s), {len(statements)} source statement(s) for {query!r}"
                 + (" (more exist; narrow the query)" if truncated else "") + ":"]
        lines += [f"  row {r['id']}: {r['title']}" for r in rows]
        lines += [f"  statement {s['id']} ({s['source']}, {s['where']}): {s['paraphrase']}" for s in statements]
        return tool_result(SearchAnswer(**engine_fields(kb), query=query, rows=rows, statements=statements,
                                        truncated=truncated), "\n".join(lines))

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
        return tool_result(VocabularyAnswer(**engine_fields(kb), sections=sections), text)

    @server.tool(annotations=read_only)
    def patient_schema() -> Annotated[CallToolResult, SchemaAnswer]:
        """The JSON Schema of the Patient record `assess` takes (what `mcrc schema` prints). Unknown is not false:
        leave out what is not known rather than guessing a value."""
        schema = Patient.model_json_schema()
        return tool_result(SchemaAnswer(**engine_fields(kb), schema=schema),
                       "The Patient JSON Schema is in the structured content (and the next text block).")
