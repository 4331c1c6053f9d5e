"""Security middleware for the whole app (API, web pages, CDS Hooks): body size limit, headers, last-resort 500.

A plain ASGI middleware (no BaseHTTPMiddleware: it adds no task or body buffering per request):

* **Body size**: a declared `Content-Length` above the limit is refused with 413 before the body is read;
  a body without one (chunked) is counted as it streams and refused as soon as it passes the limit,
  whatever the route was doing with it. A malformed `Content-Length` is a 400.
* **Headers** on every response: the Content-Security-Policy below (no external origin, no inline
  script or style), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
  `X-Frame-Options: DENY`, and `Cache-Control: no-store` on everything but `/static/` (pages and
  API answers carry patient data; a route may set its own Cache-Control).
* **Last resort**: an exception no handler took becomes a bare problem+json 500 with these headers;
  the log gets the traceback, the client never does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcrc.api.errors import PROBLEM_MEDIA_TYPE, TYPE_BASE

log = logging.getLogger("mcrc.api")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
CACHEABLE_PREFIXES = ("/static/",)


class _BodyTooLarge(Exception):
    """Raised inside the app's receive() when the streamed body passes the limit."""


def _problem_message(status: int, kind: str, title: str, detail: str) -> tuple[Message, Message]:
    body = json.dumps({"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode()),
                         (b"connection", b"close") if status == 413 else (b"cache-control", b"no-store")]}
    return start, {"type": "http.response.body", "body": body}


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

    def _with_headers(self, path: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        present = {k.lower() for k, _ in headers}
        out = list(headers) + [(k, v) for k, v in SECURITY_HEADERS if k not in present]
        if b"cache-control" not in present and not path.startswith(CACHEABLE_PREFIXES):
            out.append((b"cache-control", b"no-store"))
        return out

    async def _send_problem(self, send: Send, path: str, status: int, kind: str, title: str, detail: str) -> None:
        start, body = _problem_message(status, kind, title, detail)
        start["headers"] = self._with_headers(path, start["headers"])
        await send(start)
        await send(body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, limit = scope.get("path", ""), self.max_body_bytes
        declared = next((v for k, v in scope.get("headers", ()) if k == b"content-length"), None)
        if declared is not None:
            try:
                size = int(declared)
                if size < 0:
                    raise ValueError
            except ValueError:
                await self._send_problem(send, path, 400, "bad-request", "Bad request",
                                         "the Content-Length header is not a number")
                return
            if size > limit:
                await self._send_problem(send, path, 413, "too-large", "Request body too large",
                                         f"the request body may be at most {limit} bytes")
                return

        received = 0
        too_large = started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def secured_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return  # whatever the app makes of the interrupted body, the answer is 413
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = self._with_headers(path, list(message.get("headers", ())))
            await send(message)

        try:
            await self.app(scope, limited_receive, secured_send)
        except _BodyTooLarge:
            pass
        except Exception:
            if too_large:
                pass
            elif started:
                raise  # nothing more can be said to this client; the server closes the connection
            else:
                log.exception("unhandled error on %s %s", scope.get("method"), path)
                await self._send_problem(send, path, 500, "internal", "Internal error",
                                         "an unexpected error occurred; see the server log")
                return
        if too_large and not started:
            await self._send_problem(send, path, 413, "too-large", "Request body too large",
                                     f"the request body may be at most {limit} bytes")
