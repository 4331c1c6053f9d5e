"""The old import path of the MCP server (`mcrc mcp`, src/mcrc/cli.py): the server lives in the package `mcrc.mcp`."""

from mcrc.mcp import MAX_INPUT_BYTES, MCP_PATH, build_server, http_app, log_to_stderr, run_stdio, statement

__all__ = ["MAX_INPUT_BYTES", "MCP_PATH", "build_server", "http_app", "log_to_stderr", "run_stdio", "statement"]
