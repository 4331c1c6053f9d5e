"""POST /api/v1/assess as a thin ASGI handler, with the declared FastAPI route as its fallback (decision 0056).

The FastAPI route stays declared (its OpenAPI operation, its routing, its 405) and this handler takes its
place as the route's ASGI app. For the plain call, no query string, it does what the route does, in the
same order and with the same functions, without FastAPI's per-request machinery (dependency resolution,
query validation, the request object and its exit stacks), which cost about as much CPU as the engine:

1. the body is read whole and decoded by the strict reader (a JsonInputError is the same 400 problem);
2. the caller is resolved by the same bearer scheme and the same `assess_caller` (same 401s, same 503);
3. the patient is validated and assessed, and the answer written, by the route's own `answer` function.

Errors are raised, not answered here, so the app's exception handlers write them exactly as for the route.
A call with a query string (`?trace=true`, `?evidence=false`, a malformed value) goes to the declared route,
with the body already read handed back to it: FastAPI then parses and validates the parameters as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcrc import strictjson

__all__ = ["FastAssess"]


async def read_body(receive: Receive) -> bytes:
    """The whole request body, as Starlette's `Request.body()` reads it (a disconnect raises ClientDisconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then whatever the connection says next (a disconnect)."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


class FastAssess:
    """The ASGI app of POST /api/v1/assess: the plain call handled here, any other handed to `fallback`."""

    def __init__(self, fallback: ASGIApp, bearer: Callable[[HTTPConnection], Awaitable[Any]],
                 caller: Callable[[Any], Awaitable[Any]], answer: Callable[[Any, bool | None, bool], Response]):
        self.fallback = fallback  # the declared FastAPI route's own app
        self.bearer, self.caller, self.answer = bearer, caller, answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        if scope.get("query_string"):
            # parameters given: FastAPI reads and validates them (and answers their errors) as it always has
            await self.fallback(scope, replay(body, receive), send)
            return
        # The route's order: the body dependency, then the caller dependency, then the endpoint.
        doc = strictjson.loads(body)
        await self.caller(await self.bearer(HTTPConnection(scope)))
        await self.answer(doc, None, False)(scope, receive, send)
