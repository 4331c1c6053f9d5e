"""The MCP resources: the citable sources and the traceability matrix, whole and for one source."""

from __future__ import annotations

import json

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError

from mcrc.knowledge import KnowledgeBase
from mcrc.mcp.answers import engine_fields


def add_resources(server: MCPServer, kb: KnowledgeBase) -> None:
    """The resources, as JSON, over one loaded knowledge base."""
    @server.resource("mcrc://sources", name="sources", mime_type="application/json",
                     description="The citable sources: kind, edition, year and the newer editions known")
    def sources() -> str:
        from mcrc.render.sources import sources_view

        return json.dumps({**engine_fields(kb), "sources": sources_view(kb)}, ensure_ascii=False, indent=1)

    @server.resource("mcrc://trace", name="traceability", mime_type="application/json",
                     description="The traceability matrix: per guideline source, how many statements are encoded, "
                                 "set aside or open (mcrc://trace/{source} for one source's statements)")
    def trace_summary() -> str:
        from mcrc.render import trace as rt

        return json.dumps({**engine_fields(kb), "sources": rt.summary_rows(kb)}, ensure_ascii=False, indent=1)

    @server.resource("mcrc://trace/{source}", name="traceability_of_source", mime_type="application/json",
                     description="One guideline source's traceability matrix: every clinical statement with the "
                                 "rows that encode it, or why it is not decision logic")
    def trace_source(source: str) -> str:
        from mcrc.render import trace as rt

        if source not in kb.trace.sources:
            raise ResourceNotFoundError(f"no traceability matrix for source {source!r}; sources with one: "
                                        f"{', '.join(kb.trace.sources)}")
        return json.dumps({**engine_fields(kb), **rt.source_view(kb, source)}, ensure_ascii=False, indent=1)
