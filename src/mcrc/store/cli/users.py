"""`mcrc db`, `mcrc user` and `mcrc user token`: the store's schema, its users and their API tokens."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from mcrc.console import err, out
from mcrc.store.cli.common import DB, group, print_json, run_store
from mcrc.store.models import ROLES

db_app = group("Create or upgrade the case store's database.")
user_app = group("Users of the store, their roles and API tokens.")
token_app = group("API tokens of a user: create (printed once), list, revoke.")
user_app.add_typer(token_app, name="token")


# ---- db ---------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(db: str = DB) -> None:
    """Apply the migrations (alembic upgrade head); safe to run again."""
    rev = run_store(db, lambda s: (s.upgrade(), s.schema_revision())[1], current=False)
    out.print(f"database at schema revision {rev}")


# ---- users ------------------------------------------------------------------------------------
@user_app.command("add")
def user_add(name: str = typer.Argument(...), role: str = typer.Option(..., "--role", help=", ".join(ROLES)),
             actor: str = typer.Option(None, "--user", "-u", envvar="MCRC_USER",
                                       help="The admin adding the user (not needed for the first user)"),
             db: str = DB) -> None:
    """Add a user with a role (clinician, coordinator, auditor, admin)."""
    u = run_store(db, lambda s: s.add_user(name, role, actor=actor))
    out.print(f"user {u['name']} ({u['role']}) added")


@user_app.command("deactivate")
def user_deactivate(name: str = typer.Argument(...),
                    actor: str = typer.Option(..., "--user", "-u", envvar="MCRC_USER", help="The admin"),
                    db: str = DB) -> None:
    """Deactivate a user: its API tokens stop working at once; its history stays in the audit trail."""
    u = run_store(db, lambda s: s.deactivate_user(name, actor))
    out.print(f"user {u['name']} ({u['role']}) deactivated")


ACTOR = typer.Option(None, "--user", "-u", envvar="MCRC_USER",
                     help="Who is acting: the token's owner (default) or an admin")


@token_app.command("create")
def token_create(name: str = typer.Argument(..., help="The user the token signs in as"),
                 label: str = typer.Option(None, "--label", help="What the token is for (e.g. a host name)"),
                 actor: str = ACTOR, db: str = DB) -> None:
    """Create an API token and print it once on standard output; only its sha256 digest is stored."""
    new = run_store(db, lambda s: s.create_token(name, label=label, actor=actor))
    err.print(f"token {new.record.id} for {new.record.user}{f' ({label})' if label else ''}: store it now, "
              "it cannot be shown again")
    sys.stdout.write(new.token + "\n")


@token_app.command("list")
def token_list(name: str = typer.Argument(...), actor: str = ACTOR, db: str = DB,
               fmt: str = typer.Option("text", "--format", "-f", help="text or json")) -> None:
    """List a user's tokens (id, label, created, revoked); never the token itself."""
    tokens = run_store(db, lambda s: s.list_tokens(name, actor=actor))
    if fmt == "json":
        print_json([t.__dict__ for t in tokens])
        return
    table = Table(title=f"{len(tokens)} token(s) of {name}")
    for col in ("id", "label", "created", "revoked"):
        table.add_column(col)
    for t in tokens:
        table.add_row(str(t.id), t.label or "", t.created_at, t.revoked_at or "")
    out.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="The token id from `mcrc user token list`"),
                 actor: str = typer.Option(..., "--user", "-u", envvar="MCRC_USER",
                                           help="The token's owner or an admin"),
                 db: str = DB) -> None:
    """Revoke an API token; requests with it are refused from now on."""
    t = run_store(db, lambda s: s.revoke_token(token_id, actor))
    out.print(f"token {t.id} of {t.user} revoked")
