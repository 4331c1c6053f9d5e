"""One strict JSON reader for every entry point (CLI, REST API, FHIR, CDS Hooks, web form, store import, config).

The standard library and orjson both accept things a clinical record must not contain, each differently:
duplicate keys (the last silently wins), NaN and Infinity (stdlib), `1e999` read as infinity, integers of
thousands of digits (a traceback from Python's own digit limit), NUL and other control characters escaped
inside strings (PostgreSQL then refuses the row), nesting deep enough to exhaust the recursion limit, and a
byte-order mark accepted by one reader and refused by another. `loads` refuses all of these with a
`JsonInputError` (an InputError) whose problems name the line and column or the field path, so every
interface answers the same input with the same message (decision record 0024).

The common case costs one pass of the C scanner plus, for documents with more brackets than the depth limit,
a walk over their arrays and objects; the checks that need a walk of every value (duplicate keys, bad
numbers, control characters) only run when the scanner or a scan of the raw text has flagged something.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from mcrc.errors import JsonInputError, Problem

MAX_DEPTH = 64  # a Patient nests 5 levels, an mCODE Bundle about 12
MAX_BYTES = 10 * 1024 * 1024
MAX_INT_DIGITS = 15  # beyond this a JSON integer is no longer exact as a number anywhere downstream
_BOM = "\ufeff"

# Strings may hold tab, line feed and carriage return; no other C0 control, DEL, C1 control or unpaired surrogate.
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The raw-text pre-check: an escape that may decode to one of those, or a raw DEL/C1 (JSON allows them unescaped).
# False positives (an escaped tab, an escaped backslash before "u0000", a valid surrogate pair) only cost a walk.
_MAYBE_ESCAPE = re.compile(r"\\u(?:00[01]|007[fF]|00[89]|[dD][89a-fA-F])")
_RAW_C1 = re.compile("[\x7f-\x9f]")
_CONTROL_NAMES = {0x00: "NUL", 0x08: "backspace", 0x0B: "vertical tab", 0x0C: "form feed", 0x1B: "escape",
                  0x7F: "DEL"}


class _Flagged:
    """A value the scanner could not accept, kept in place so the walk can report its path."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


class _DuplicateKeys(dict):
    """An object that repeated a key; the walk reports it with its path."""

    __slots__ = ("duplicates",)


def _shown(key: str) -> str:
    """A key as a path shows it: characters that must not be printed are written as escapes."""
    return _BAD_CHAR.sub(lambda m: f"\\u{ord(m.group()):04x}", key)


def _where(path: list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{_shown(part)}" if out else _shown(part))
    return out or "(document)"


def _char_problem(text: str) -> str:
    m = _BAD_CHAR.search(text)
    assert m is not None
    code = ord(m.group())
    if 0xD800 <= code <= 0xDFFF:
        return f"contains an unpaired surrogate \\u{code:04x} at character {m.start() + 1} (not a Unicode character)"
    name = _CONTROL_NAMES.get(code, "control character")
    return (f"contains a control character U+{code:04X} ({name}) at character {m.start() + 1}; only tab, line "
            "feed and carriage return are allowed in text")


def _deeper_than(doc: Any, max_depth: int) -> bool:
    """Whether arrays and objects nest deeper than `max_depth` (a walk over containers only, no paths)."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return True
        for child in (value.values() if type(value) is dict else value):
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


def _too_deep(doc: Any, max_depth: int) -> list[str | int]:
    """The path of the first array or object nested deeper than `max_depth` (called once that is known)."""
    stack: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if len(path) >= max_depth:
            return path
        for key, child in (value.items() if isinstance(value, dict) else enumerate(value)):
            if isinstance(child, (dict, list)):
                stack.append((child, [*path, key]))
    return []


def _depth_problem(path: list[str | int] | None, max_depth: int) -> Problem:
    where = _where(path[:8]) + (" ..." if path and len(path) > 8 else "") if path else "(document)"
    return Problem(where, f"JSON nested deeper than {max_depth} levels (arrays and objects within each other)")


def _walk(doc: Any) -> list[Problem]:
    """Every flagged value, duplicated key and bad character, with its path (document order)."""
    problems: list[Problem] = []
    stack: list[tuple[Any, list[str | int]]] = [(doc, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Flagged):
            problems.append(Problem(_where(path), value.message))
        elif isinstance(value, str):
            if _BAD_CHAR.search(value):
                problems.append(Problem(_where(path), _char_problem(value)))
        elif isinstance(value, dict):
            if isinstance(value, _DuplicateKeys):
                for key in value.duplicates:
                    problems.append(Problem(_where([*path, key]), "this key appears more than once in the same "
                                                                  "object; each field may be given only once"))
            for key in value:
                if _BAD_CHAR.search(key):
                    problems.append(Problem(_where([*path, key]), "the field name " + _char_problem(key)))
            stack.extend((v, [*path, k]) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(value))))
    return problems


def _decode(data: str | bytes | bytearray, max_bytes: int) -> str:
    if isinstance(data, (bytes, bytearray)):
        if len(data) > max_bytes:
            raise JsonInputError([Problem("(document)", f"is {len(data):,} bytes; the limit is {max_bytes:,}")])
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
            raise JsonInputError([Problem("(document)", "is UTF-16 or UTF-32 text; JSON must be UTF-8")])
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInputError([Problem("(document)", f"is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at "
                                                    f"byte {exc.start + 1})")]) from None
    else:
        text = data
        if len(text) > max_bytes // 4 and len(text.encode("utf-8", "surrogatepass")) > max_bytes:
            raise JsonInputError([Problem("(document)", f"is larger than the limit of {max_bytes:,} bytes")])
    # RFC 8259 section 8.1: a reader may ignore a leading byte-order mark; every mcrc reader does.
    return text[1:] if text.startswith(_BOM) else text


def loads(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """Decode one JSON document strictly, or raise JsonInputError naming every problem and where it is."""
    text = _decode(data, max_bytes)
    flagged = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal flagged
        obj = dict(items)
        if len(obj) != len(items):
            flagged = True
            seen: set[str] = set()
            dupes = [k for k, _ in items if k in seen or seen.add(k)]
            obj = _DuplicateKeys(obj)
            obj.duplicates = list(dict.fromkeys(dupes))
        return obj

    def integer(digits: str) -> int | _Flagged:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            nonlocal flagged
            flagged = True
            return _Flagged(f"an integer of {len(digits.lstrip('-')):,} digits is beyond any clinical or record "
                            f"value (at most {MAX_INT_DIGITS} digits)")
        return int(digits)

    def number(digits: str) -> float | _Flagged:
        value = float(digits)
        if math.isfinite(value):
            return value
        nonlocal flagged
        flagged = True
        return _Flagged(f"the number {digits[:20]}{'...' if len(digits) > 20 else ''} is too large to represent")

    def constant(name: str) -> _Flagged:
        nonlocal flagged
        flagged = True
        return _Flagged(f"{name} is not a JSON number (JSON has no NaN or Infinity); give a finite number or "
                        "leave the field out if it is unknown")

    try:
        doc = json.loads(text, object_pairs_hook=pairs, parse_int=integer, parse_float=number,
                         parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise JsonInputError([Problem(f"line {exc.lineno} column {exc.colno}", f"malformed JSON: {exc.msg}")]) from None
    except RecursionError:  # far deeper than any limit: the scanner ran out of stack first
        raise JsonInputError([_depth_problem(None, max_depth)]) from None
    # fewer brackets than the limit cannot nest deeper than it (the common case: no walk)
    if text.count("[") + text.count("{") > max_depth and isinstance(doc, (dict, list)) \
            and _deeper_than(doc, max_depth):
        raise JsonInputError([_depth_problem(_too_deep(doc, max_depth), max_depth)])
    if flagged or _MAYBE_ESCAPE.search(text) or "\x7f" in text or (not text.isascii() and _RAW_C1.search(text)):
        problems = _walk(doc)
        if problems:
            raise JsonInputError(problems)
    return doc


__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_INT_DIGITS", "loads"]
