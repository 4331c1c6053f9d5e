"""The API's RFC 9457 problem+json answer to every error (its exception handlers), and the OpenAPI declarations
of every error a route can give.

Every error body is a `Problem`: `type`, `title`, `status`, `detail` and, for bad input, `errors`:
one entry per problem with a JSON `pointer` into the request body (when the problem has a field
path), the `field` path as mcrc writes it (e.g. `metastases[0].site`), the `message` and what is
`allowed`. Never a stack trace, never a token. The body and its helpers are in `mcrc.http.problems`, which the
web pages use too.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from mcrc.errors import InputError, McrcError
from mcrc.http.problems import (
    PROBLEM_MEDIA_TYPE,
    TYPE_BASE,
    Problem,
    ProblemItem,
    input_problem,
    pointer,
    problem,
)
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreNotFound

# the problem+json helpers live in mcrc.http.problems (the web pages use them too); these names are read here
__all__ = ["PROBLEM_MEDIA_TYPE", "TYPE_BASE", "ApiError", "Problem", "ProblemItem", "allowed_methods", "input_problem",
           "install", "pointer", "problem", "responses"]

log = logging.getLogger("mcrc.api")


class ApiError(Exception):
    """An error the API raises itself (auth, not found) with its HTTP status and problem kind."""

    def __init__(self, status: int, kind: str, title: str, detail: str, headers: dict[str, str] | None = None):
        self.status, self.kind, self.title, self.detail, self.headers = status, kind, title, detail, headers
        super().__init__(detail)


# The string tags of request bodies that are discriminated unions (a review mark, by its `status`): pydantic puts
# the branch's tag in the location of an error inside it ("body", "concern", "comment"), which names no field.
BODY_UNION_TAGS = frozenset({"reviewed", "concern"})


def _loc_field(loc: tuple[Any, ...]) -> str:
    out = ""
    if len(loc) > 2 and loc[0] == "body" and (isinstance(loc[1], int) or loc[1] in BODY_UNION_TAGS):
        loc = (loc[0], *loc[2:])  # every body is an object: an index here is the branch of a union (a decision)
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or ".".join(str(p) for p in loc)


def allowed_methods(request: Request, said: str | None = None) -> str:
    """Every method some route serves at this path (Starlette's own 405 names only the first route's, so
    `/cases` answered `Allow: GET` although POST is served there too), with the methods the 405 itself named
    (`said`): routes of an included router (FastAPI keeps them behind one opaque entry with no `methods`) are
    known only through it, so `/fhir/assess` answered an empty `Allow`."""
    methods: set[str] = {m.strip() for m in (said or "").split(",") if m.strip()}
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\x00"})  # a method no route has: path-only match
        if match is not Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.kind, exc.title, exc.detail, headers=exc.headers)

    @app.exception_handler(InputError)
    async def _input(_: Request, exc: InputError) -> JSONResponse:
        return input_problem(exc)

    @app.exception_handler(StoreNotFound)
    async def _not_found(_: Request, exc: StoreNotFound) -> JSONResponse:
        return problem(404, "not-found", "Not found", str(exc))

    @app.exception_handler(StoreConflict)
    async def _conflict(_: Request, exc: StoreConflict) -> JSONResponse:
        return problem(409, "conflict", "Conflict", str(exc))

    @app.exception_handler(StoreForbidden)
    async def _forbidden(_: Request, exc: StoreForbidden) -> JSONResponse:
        return problem(403, "forbidden", "Forbidden", str(exc))

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        log.error("store error: %s", exc)
        return problem(503, "store-unavailable", "Store unavailable", "the case store cannot answer now")

    @app.exception_handler(McrcError)
    async def _mcrc(_: Request, exc: McrcError) -> JSONResponse:
        log.error("mcrc error: %s", exc)
        return problem(500, "internal", "Internal error", "no assessment could be produced; nothing was stored")

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errs):
            return problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON")
        items = [_validation_item(e) for e in errs]
        return problem(422, "invalid-input", "Invalid input", "invalid request parameters", items)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.pop("Allow", None) or headers.pop("allow", None))
        return problem(exc.status_code, f"http-{exc.status_code}", str(exc.detail), str(exc.detail),
                       headers=headers or None)

    @app.exception_handler(Exception)
    async def _any(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem(500, "internal", "Internal error", "an unexpected error occurred; see the server log")


def _validation_item(e: dict[str, Any]) -> ProblemItem:
    """One error of request validation, naming its field; a union's tag that is missing or unknown names the tag's
    own field (pydantic locates it at the union, the whole body) with the values allowed."""
    ctx = e.get("ctx") or {}
    if e.get("type") in ("union_tag_invalid", "union_tag_not_found") and ctx.get("discriminator"):
        loc = (*tuple(e.get("loc", ())), str(ctx["discriminator"]).strip("'"))
        f = _loc_field(loc)
        if e["type"] == "union_tag_not_found":
            return ProblemItem(pointer=pointer(f), field=f, message="is required")
        return ProblemItem(pointer=pointer(f), field=f, message=f"{ctx.get('tag')!r} is not allowed",
                           allowed=str(ctx.get("expected_tags", "")).replace("'", "") or None)
    f = _loc_field(tuple(e.get("loc", ())))
    return ProblemItem(pointer=pointer(f), field=f, message=str(e.get("msg", "invalid")))


_TEXT = {
    400: "Malformed JSON or request", 401: "Missing or invalid API token", 403: "The user's role may not do this",
    404: "No such case", 409: "The case changed since it was read", 412: "If-Match names an older version",
    413: "Request body too large", 422: "Invalid input, with field paths", 428: "If-Match is required",
    500: "Internal error (no stack trace)", 503: "The case store is unreachable or not upgraded",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entry of each error status (problem+json; schema added by the app)."""
    return {code: {"description": _TEXT[code],
                   "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for code in codes}
