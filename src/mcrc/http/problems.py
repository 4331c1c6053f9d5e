"""RFC 9457 problem+json answers, shared by the API and the web pages: the `Problem` body, a JSON pointer from
mcrc's field paths, and the answer to bad input."""

from __future__ import annotations

import re

from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mcrc import strictjson
from mcrc.errors import InputError, JsonInputError

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://mcrc.invalid/problems/"  # a stable identifier, not a page to fetch


class ProblemItem(BaseModel):
    pointer: str | None = None
    field: str | None = None
    message: str
    allowed: str | None = None


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None


_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*$")


def pointer(where: str) -> str | None:
    """`metastases[0].site` -> `/metastases/0/site` (RFC 6901); None for a non-path (e.g. `line 1 column 2`)."""
    if not _PATH.match(where):
        return None
    return "/" + "/".join(p for p in re.split(r"[.\[\]]+", where) if p)


def problem(status: int, kind: str, title: str, detail: str, errors: list[ProblemItem] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(type=TYPE_BASE + kind, title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=headers)


def input_problem(exc: InputError) -> JSONResponse:
    items = [ProblemItem(pointer=pointer(p.where), field=p.where, message=p.message, allowed=p.allowed)
             for p in exc.problems]
    if isinstance(exc, JsonInputError):  # not JSON mcrc reads at all: 400; JSON that is not a valid patient: 422
        return problem(400, "malformed-json", "Malformed JSON",
                       "the request body is not JSON mcrc accepts (strict JSON: UTF-8, no duplicate keys, no "
                       "NaN or Infinity, no control characters in text, nested at most "
                       f"{strictjson.MAX_DEPTH} levels)", items)
    return problem(422, "invalid-input", "Invalid input", exc.headline, items)
