"""The MCP server over streamable HTTP at /mcp, behind the REST API's tokens and security middleware."""

from __future__ import annotations

import json
from typing import Any

from mcrc.knowledge import KnowledgeBase
from mcrc.mcp.inputs import MAX_INPUT_BYTES
from mcrc.mcp.server import build_server

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
