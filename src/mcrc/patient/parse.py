"""Reading a Patient from decoded or raw JSON, with every validation problem named by the path the sender wrote."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

from mcrc import strictjson
from mcrc.errors import InputError, Problem
from mcrc.patient.base import TEXT_PATTERN
from mcrc.patient.record import Patient
from mcrc.patient.upgrade import _sender_path, is_v1, upgrade_v1, v1_problems


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("function-after", "function-before") or str(item).startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(patient)"


# Strict types: what each kind of field takes, for the message (no value is converted to fit).
_EXPECTED = {
    "bool_type": "true or false", "int_type": "a whole number", "float_type": "a number",
    "finite_number": "a finite number", "string_type": "text", "list_type": "a list", "model_type": "an object",
    "dict_type": "an object", "int_from_float": "a whole number",
}


def _given(value: Any) -> str:
    """How a refused input is named in a message: its JSON type and, when short, its value."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text '{value[:40]}'" + ("..." if len(value) > 40 else "")
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if value is None:
        return "null"
    return {"dict": "an object", "list": "a list"}.get(type(value).__name__, type(value).__name__)


def _problem(err: dict) -> Problem:
    loc = tuple(p for p in err.get("loc", ())
                if not (isinstance(p, str) and "[" in p and p.startswith(("function", "literal"))))
    where = _format_loc(loc)
    kind = err.get("type", "")
    msg = err.get("msg", "invalid")
    ctx = err.get("ctx") or {}
    allowed = None
    if kind == "literal_error":
        allowed = ctx.get("expected")
        msg = f"'{err.get('input')}' is not an allowed value"
    elif kind == "extra_forbidden":
        msg = "unknown field"
    elif kind.startswith(("greater", "less")):
        msg = f"{msg} (got {err.get('input')})"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == TEXT_PATTERN:
        msg = "contains a control character; only tab, line feed and carriage return are allowed in text"
    elif kind in _EXPECTED:
        msg = f"expected {_EXPECTED[kind]}, got {_given(err.get('input'))}"
    elif kind == "value_error":
        msg = str(ctx.get("error", msg))
    return Problem(where=where, message=msg.removeprefix("Value error, "), allowed=allowed)


def parse_patient(data: Any, today: dt.date | None = None) -> Patient:
    """Validate a decoded JSON object into a Patient or raise InputError listing every problem."""
    if not isinstance(data, dict):
        raise InputError([Problem("(patient)", f"expected a JSON object, got {type(data).__name__}")])
    paths: dict[str, str] = {}
    early: list[Problem] = []
    if is_v1(data):  # upgraded here (not only by the model) so that problems name the paths the sender wrote
        early = v1_problems(data)
        data = upgrade_v1(data, paths)
    try:
        patient = Patient.model_validate(data, context={"today": today or dt.date.today()})
    except ValidationError as exc:
        named = {p.where for p in early}
        problems = [Problem(_sender_path(p.where, paths), p.message, p.allowed)
                    for p in map(_problem, exc.errors())]
        raise InputError(early + [p for p in problems if p.where not in named]) from None
    if early:
        raise InputError(early)
    return patient


def parse_patient_json(text: str | bytes, today: dt.date | None = None) -> Patient:
    """Parse JSON text into a Patient with the strict reader (`mcrc.strictjson`): JSON it refuses is a
    JsonInputError naming line and column or field path."""
    return parse_patient(strictjson.loads(text), today=today)
