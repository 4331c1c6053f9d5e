"""The MCP server over one knowledge base: unknown arguments refused by name, and the stdio transport."""

from __future__ import annotations

import logging
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from pydantic import ValidationError

from mcrc.engine.evaluate import ENGINE_VERSION
from mcrc.knowledge import KnowledgeBase, load_knowledge
from mcrc.mcp.inputs import BUNDLE_HINT, PATIENT_HINT, json_document
from mcrc.mcp.resources import add_resources
from mcrc.mcp.tools import add_tools

SERVER_NAME = "mcrc"

INSTRUCTIONS = (
    "mcrc is a deterministic, cited decision-support engine for metastatic colorectal cancer tumour boards. "
    "Do not choose or invent treatment yourself: call `assess` with a structured patient (the JSON Schema from "
    "`patient_schema`) or an mCODE FHIR R4 Bundle, and relay its answer verbatim with its citations and its "
    "engine statement (engine version and knowledge-base digest). Free text is not a patient: ask for the "
    "structured record. Unknown facts stay unknown; the answer says what would settle them. `explain_row` and "
    "`search_knowledge` show where a recommendation comes from."
)


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


# tool -> argument -> what it must be: the arguments that may be given as JSON text
_JSON_TEXT_ARGUMENTS = {"assess": {"patient": PATIENT_HINT, "fhir_bundle": BUNDLE_HINT}}


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
                    arguments = {**arguments, key: json_document(arguments[key], key, hint)}
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
    add_tools(server, kb)
    add_resources(server, kb)
    return server


def log_to_stderr() -> None:
    """Warnings and errors on standard error, one line each (standard output is the protocol's, over stdio)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="mcrc mcp: %(levelname)s %(message)s")


def run_stdio(kb: KnowledgeBase | None = None) -> None:
    log_to_stderr()
    build_server(kb).run("stdio")

