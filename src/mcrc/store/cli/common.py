"""What the case store's commands share: the `--db` and `--user` options, opening the store, reading a patient.

Exit codes as in `mcrc`: 2 bad input (invalid patient, unknown case or user, stale version,
forbidden role), 3 knowledge, 4 engine, 5 database unusable (unreachable, schema not upgraded).
Nothing is written when a command fails, and no command prints a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TypeVar

import typer
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from mcrc.console import EXIT_DATABASE, EXIT_ENGINE, EXIT_INPUT, EXIT_KNOWLEDGE, read_source
from mcrc.console import fail as _fail
from mcrc.errors import EngineError, InputError, KnowledgeError, McrcError
from mcrc.patient import parse_patient_json
from mcrc.store.api import Store
from mcrc.store.db import DEFAULT_URL
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreNotFound

T = TypeVar("T")

DB = typer.Option(DEFAULT_URL, "--db", envvar="MCRC_DATABASE_URL",
                  help="Database URL: sqlite:///path or postgresql+psycopg://user:pw@host/db")
USER = typer.Option(..., "--user", "-u", envvar="MCRC_USER", help="Who is acting (a user of the store)")


def group(help_text: str) -> typer.Typer:
    return typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=help_text)


def run_store(db: str, fn: Callable[[Store], T], *, current: bool = True) -> T:
    """Open the store, run, turn every documented error into a message and an exit code."""
    try:
        store = Store(db)
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        _fail(f"invalid database URL {db!r}: {exc}", EXIT_INPUT)
    try:
        if current:
            store.require_current()
        return fn(store)
    except (InputError, StoreNotFound, StoreConflict, StoreForbidden) as exc:
        _fail(str(exc), EXIT_INPUT)
    except KnowledgeError as exc:
        _fail(str(exc), EXIT_KNOWLEDGE)
    except EngineError as exc:
        _fail(str(exc), EXIT_ENGINE)
    except StoreError as exc:
        _fail(str(exc), EXIT_DATABASE)
    except McrcError as exc:  # pragma: no cover - every subclass is handled above
        _fail(str(exc), 1)
    except DBAPIError as exc:
        _fail(f"database error: {exc.orig}", EXIT_DATABASE)
    finally:
        store.close()
    raise AssertionError("unreachable")  # pragma: no cover


def read_patient(source: str):
    text = read_source(source)
    try:
        return parse_patient_json(text)
    except InputError as exc:
        _fail(f"{source}: {exc}", EXIT_INPUT)


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
