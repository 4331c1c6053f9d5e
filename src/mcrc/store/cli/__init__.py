"""The case store's command line as one standalone app (`python -m mcrc.store.cli`); `mcrc` loads its groups lazily.

Exit codes as in `mcrc`: 2 bad input (invalid patient, unknown case or user, stale version,
forbidden role), 3 knowledge, 4 engine, 5 database unusable (unreachable, schema not upgraded).
Nothing is written when a command fails, and no command prints a traceback.
"""

from __future__ import annotations

from mcrc.store.cli.audit import audit_app
from mcrc.store.cli.cases import case_app, decide
from mcrc.store.cli.common import DB, USER, group
from mcrc.store.cli.demo import demo_app
from mcrc.store.cli.users import db_app, token_app, user_app

# Standalone app with every group (what `python -m mcrc.store.cli` runs).
store_app = group("mcrc case store.")
store_app.add_typer(db_app, name="db")
store_app.add_typer(case_app, name="case")
store_app.add_typer(audit_app, name="audit")
store_app.add_typer(user_app, name="user")
store_app.add_typer(demo_app, name="demo")
store_app.command("decide")(decide)


def main() -> None:
    store_app()


__all__ = ["DB", "USER", "audit_app", "case_app", "db_app", "decide", "demo_app", "main", "store_app", "token_app",
           "user_app"]
