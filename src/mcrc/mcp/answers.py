"""What every MCP tool answers: the engine statement first, the answer models, the citations of an answer."""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mcrc.engine.evaluate import ENGINE_VERSION
from mcrc.knowledge import KnowledgeBase

# ---- the engine statement --------------------------------------------------------------------------------------

def statement(kb_version: str, engine_version: str = ENGINE_VERSION) -> str:
    """The sentence every tool answer opens with."""
    return (f"This is the output of the mcrc decision-support engine {engine_version} with knowledge base "
            f"{kb_version} (its digest). Quote it verbatim with its citations; do not add, drop or change "
            "recommendations. It supports, and does not replace, the tumour board's judgement.")


def engine_fields(kb: KnowledgeBase) -> dict[str, str]:
    """The statement, engine version and knowledge-base digest every answer about this knowledge base carries."""
    return {"statement": statement(kb.version), "engine_version": ENGINE_VERSION, "kb_version": kb.version}


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


def tool_result(answer: EngineAnswer, text: str) -> CallToolResult:
    """The answer as structured content, and for clients that read text only: the statement, the text, then the
    same structured content as JSON."""
    data = answer.model_dump(mode="json", by_alias=True)
    body = json.dumps(data, ensure_ascii=False, indent=1)
    return CallToolResult(content=[TextContent(type="text", text=f"{answer.statement}\n\n{text}"),
                                   TextContent(type="text", text=body)],
                          structured_content=data)


def answer_citations(kb: KnowledgeBase, dumped: dict[str, Any]) -> list[Citation]:
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

