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

The SDK is imported by this package only, and the package only by the `mcp` command, so `mcrc`'s other commands do
not pay for it at start-up.

The package holds `answers` (the engine statement and the answer models), `inputs` (a patient or Bundle argument
read strictly), `rows` (rows and source statements for an assistant), `tools` and `resources` (what the server
offers), `server` (the server and its stdio transport) and `streamable_http` (the HTTP transport behind the API's
tokens).
"""

from mcrc.mcp.answers import statement
from mcrc.mcp.inputs import MAX_INPUT_BYTES
from mcrc.mcp.server import build_server, log_to_stderr, run_stdio
from mcrc.mcp.streamable_http import MCP_PATH, http_app

__all__ = ["MAX_INPUT_BYTES", "MCP_PATH", "build_server", "http_app", "log_to_stderr", "run_stdio", "statement"]
