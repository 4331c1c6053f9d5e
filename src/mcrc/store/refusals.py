"""Values the database would refuse (a NUL, a number out of range), as input errors naming what was wrong."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.exc import DBAPIError

from mcrc.errors import Problem
from mcrc.store.errors import StoreInvalid


def _nul_paths(obj: Any, path: str = "") -> Iterator[str]:
    """Where a NUL character hides in a JSON-like value (PostgreSQL stores no NUL in text or JSONB)."""
    if isinstance(obj, str):
        if "\x00" in obj:
            yield path or "(value)"
    elif isinstance(obj, dict):
        for key, value in obj.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield where
            yield from _nul_paths(value, where)
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _nul_paths(value, f"{path}[{i}]")


def _nul_problems(**named: Any) -> list[Problem]:
    """One problem per text with a NUL character, on either backend (SQLite would store it, PostgreSQL not)."""
    return [Problem(where, "contains a NUL character (U+0000), which the store does not keep")
            for name, value in named.items() for where in _nul_paths(value, name)]


# SQLSTATEs of PostgreSQL's data exceptions (class 22) that name what was wrong with a value.
_REFUSALS = {"22P05": "a text contains a character the database cannot store (a NUL, U+0000)",
             "22001": "a text is longer than the database column allows",
             "22003": "a number is outside the range the database can store",
             "22P02": "a value is not in a form the database accepts",
             "22007": "a date or time is not in a form the database accepts",
             "22008": "a date or time is out of range"}


def _refused(exc: DBAPIError | OverflowError, writing: bool) -> StoreInvalid:
    """A value the database refused, as an input error (a write's transaction is rolled back: nothing written).

    Only the primary message is kept: PostgreSQL's detail and context lines can quote the stored data. SQLite's
    driver refuses integers beyond 64 bits itself, with a plain OverflowError."""
    if isinstance(exc, OverflowError):
        primary, code = str(exc), "22003"
    else:
        orig = exc.orig
        primary = getattr(getattr(orig, "diag", None), "message_primary", None) or str(orig).splitlines()[0]
        code = getattr(orig, "sqlstate", None) or ""
    if "NUL" in primary or "\\u0000" in primary:
        code = "22P05"
    message = f"{_REFUSALS.get(code, 'the database refused a value')} ({primary})"
    return StoreInvalid([Problem("(value)", message + ("; nothing was written" if writing else ""))])
