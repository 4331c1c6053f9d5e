"""Command line of the case store. The lead wires these into `mcrc`; standalone: `python -m mcrc.store.cli`.

Exit codes as in `mcrc`: 2 bad input (invalid patient, unknown case or user, stale version,
forbidden role), 3 knowledge, 4 engine, 5 database unusable (unreachable, schema not upgraded).
Nothing is written when a command fails, and no command prints a traceback.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.table import Table
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from mcrc import strictjson
from mcrc.console import EXIT_DATABASE, EXIT_ENGINE, EXIT_INPUT, EXIT_KNOWLEDGE, err, out, read_source
from mcrc.console import fail as _fail
from mcrc.errors import EngineError, InputError, KnowledgeError, McrcError
from mcrc.patient import parse_patient_json
from mcrc.store import audit
from mcrc.store.api import Store
from mcrc.store.db import DEFAULT_URL
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreNotFound
from mcrc.store.models import BOARD_ROLES, DEVIATION_REASONS, ROLES

T = TypeVar("T")



DB = typer.Option(DEFAULT_URL, "--db", envvar="MCRC_DATABASE_URL",
                  help="Database URL: sqlite:///path or postgresql+psycopg://user:pw@host/db")
USER = typer.Option(..., "--user", "-u", envvar="MCRC_USER", help="Who is acting (a user of the store)")


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help=help_text)


db_app = _typer("Create or upgrade the case store's database.")
case_app = _typer("Tumor-board cases: add, list, show, assess, diff, delete, export, import, reassess-stale.")
audit_app = _typer("The audit trail: verify its hash chain, anchor its head outside the database, export it as FHIR "
                   "AuditEvents.")
user_app = _typer("Users of the store, their roles and API tokens.")
token_app = _typer("API tokens of a user: create (printed once), list, revoke.")
user_app.add_typer(token_app, name="token")
demo_app = _typer("Sample data.")
# Standalone app with every group (what `python -m mcrc.store.cli` runs).
store_app = _typer("mcrc case store.")


def _run(db: str, fn: Callable[[Store], T], *, current: bool = True) -> T:
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


def _read_patient(source: str):
    text = read_source(source)
    try:
        return parse_patient_json(text)
    except InputError as exc:
        _fail(f"{source}: {exc}", EXIT_INPUT)


def _json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


# ---- db ---------------------------------------------------------------------------------------
@db_app.command("upgrade")
def db_upgrade(db: str = DB) -> None:
    """Apply the migrations (alembic upgrade head); safe to run again."""
    rev = _run(db, lambda s: (s.upgrade(), s.schema_revision())[1], current=False)
    out.print(f"database at schema revision {rev}")


# ---- users ------------------------------------------------------------------------------------
@user_app.command("add")
def user_add(name: str = typer.Argument(...), role: str = typer.Option(..., "--role", help=", ".join(ROLES)),
             actor: str = typer.Option(None, "--user", "-u", envvar="MCRC_USER",
                                       help="The admin adding the user (not needed for the first user)"),
             db: str = DB) -> None:
    """Add a user with a role (clinician, coordinator, auditor, admin)."""
    u = _run(db, lambda s: s.add_user(name, role, actor=actor))
    out.print(f"user {u['name']} ({u['role']}) added")


@user_app.command("deactivate")
def user_deactivate(name: str = typer.Argument(...),
                    actor: str = typer.Option(..., "--user", "-u", envvar="MCRC_USER", help="The admin"),
                    db: str = DB) -> None:
    """Deactivate a user: its API tokens stop working at once; its history stays in the audit trail."""
    u = _run(db, lambda s: s.deactivate_user(name, actor))
    out.print(f"user {u['name']} ({u['role']}) deactivated")


ACTOR = typer.Option(None, "--user", "-u", envvar="MCRC_USER",
                     help="Who is acting: the token's owner (default) or an admin")


@token_app.command("create")
def token_create(name: str = typer.Argument(..., help="The user the token signs in as"),
                 label: str = typer.Option(None, "--label", help="What the token is for (e.g. a host name)"),
                 actor: str = ACTOR, db: str = DB) -> None:
    """Create an API token and print it once on standard output; only its sha256 digest is stored."""
    new = _run(db, lambda s: s.create_token(name, label=label, actor=actor))
    err.print(f"token {new.record.id} for {new.record.user}{f' ({label})' if label else ''}: store it now, "
              "it cannot be shown again")
    sys.stdout.write(new.token + "\n")


@token_app.command("list")
def token_list(name: str = typer.Argument(...), actor: str = ACTOR, db: str = DB,
               fmt: str = typer.Option("text", "--format", "-f", help="text or json")) -> None:
    """List a user's tokens (id, label, created, revoked); never the token itself."""
    tokens = _run(db, lambda s: s.list_tokens(name, actor=actor))
    if fmt == "json":
        _json([t.__dict__ for t in tokens])
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
    t = _run(db, lambda s: s.revoke_token(token_id, actor))
    out.print(f"token {t.id} of {t.user} revoked")


# ---- cases ------------------------------------------------------------------------------------
@case_app.command("add")
def case_add(source: str = typer.Argument(..., help="Patient JSON file, or - for standard input"),
             user: str = USER, db: str = DB) -> None:
    """Validate a patient and register it as a new case."""
    patient = _read_patient(source)
    c = _run(db, lambda s: s.add_case(patient, user))
    out.print(f"case {c.id} added (version {c.version}, {c.label or 'no label'})")


@case_app.command("update")
def case_update(case_id: int = typer.Argument(...), source: str = typer.Argument(...),
                version: int = typer.Option(..., "--version", help="The version you edited (optimistic lock)"),
                user: str = USER, db: str = DB) -> None:
    """Replace a case's patient; refused if someone changed the case since `--version`."""
    patient = _read_patient(source)
    c = _run(db, lambda s: s.update_case(case_id, patient, version, user))
    out.print(f"case {c.id} updated to version {c.version}")


@case_app.command("delete")
def case_delete(case_id: int = typer.Argument(...), version: int = typer.Option(None, "--version"),
                user: str = USER, db: str = DB) -> None:
    """Soft-delete a case (kept for audit, hidden from lists)."""
    c = _run(db, lambda s: s.delete_case(case_id, user, expected_version=version))
    out.print(f"case {c.id} deleted (version {c.version})")


@case_app.command("list")
def case_list(user: str = USER, db: str = DB, deleted: bool = typer.Option(False, "--deleted"),
              fmt: str = typer.Option("text", "--format", "-f", help="text or json")) -> None:
    """List cases."""
    cases = _run(db, lambda s: s.list_cases(user, include_deleted=deleted))
    if fmt == "json":
        _json([{k: v for k, v in c.__dict__.items() if k != "patient"} for c in cases])
        return
    table = Table(title=f"{len(cases)} case(s)")
    for col in ("id", "label", "version", "updated", "deleted"):
        table.add_column(col)
    for c in cases:
        table.add_row(str(c.id), c.label or "", str(c.version), c.updated_at, "yes" if c.deleted else "")
    out.print(table)


@case_app.command("show")
def case_show(case_id: int = typer.Argument(...), user: str = USER, db: str = DB) -> None:
    """Show a case (JSON): patient, version, assessments and decisions."""
    def run(s: Store):
        c = s.get_case(case_id, user)
        return {**c.__dict__,
                "assessments": [{k: v for k, v in a.__dict__.items() if k != "assessment"}
                                for a in s.assessments(case_id, user)],
                "decisions": [d.__dict__ for d in s.decisions(case_id, user)]}
    _json(_run(db, run))


@case_app.command("assess")
def case_assess(case_id: int = typer.Argument(...), user: str = USER, db: str = DB,
                full: bool = typer.Option(False, "--json", help="Print the whole stored Assessment JSON")) -> None:
    """Assess the case as it stands now and store the answer (a new assessment each time)."""
    a = _run(db, lambda s: s.assess(case_id, user))
    if full:
        _json(a.assessment)
        return
    out.print(f"assessment {a.id} of case {a.case_id} (version {a.case_version}), knowledge base {a.kb_version}, "
              f"engine {a.engine_version}")


@case_app.command("diff")
def case_diff(case_id: int = typer.Argument(...), user: str = USER, db: str = DB) -> None:
    """What the newest assessment adds or removes compared with the previous one (JSON)."""
    _json(_run(db, lambda s: s.diff(case_id, user)))


@case_app.command("reassess-stale")
def case_reassess_stale(user: str = USER, db: str = DB,
                        as_json: bool = typer.Option(False, "--json", help="Print the diffs as JSON")) -> None:
    """Assess again every case whose newest assessment came from another knowledge-base or engine version."""
    results = _run(db, lambda s: s.reassess_stale(user))
    if as_json:
        _json([d for _, d in results])
        return
    out.print(f"{len(results)} stale case(s) re-assessed")
    for case_id, d in results:
        head = f"case {case_id}: knowledge base {d['from']['kb_version']} -> {d['to']['kb_version']}"
        if d["from"]["engine_version"] != d["to"]["engine_version"]:
            head += f", engine {d['from']['engine_version']} -> {d['to']['engine_version']}"
        out.print(f"{head}: {'changed' if d['changed'] else 'no change'}")
        for name, change in d["sections"].items():
            for what in ("added", "removed"):
                if change[what]:
                    out.print(f"  {name} {what}: {', '.join(change[what])}")


@case_app.command("export")
def case_export(case_id: int = typer.Argument(...), user: str = USER, db: str = DB) -> None:
    """Print a case as JSON (mcrc.case-export/1): patient, metadata, every assessment and decision."""
    _json(_run(db, lambda s: s.export_case(case_id, user)))


@case_app.command("import")
def case_import(source: str = typer.Argument(..., help="A `mcrc case export` JSON file, or - for standard input"),
                user: str = USER, db: str = DB) -> None:
    """Validate an exported case as a whole and register its patient as a new case."""
    try:
        data = strictjson.loads(read_source(source))
    except InputError as exc:
        _fail(f"{source}: {exc}", EXIT_INPUT)
    c = _run(db, lambda s: s.import_case(data, user))
    out.print(f"case {c.id} imported from case {data['case']['id']} (version {c.version}, {c.label or 'no label'})")


def decide(case_id: int = typer.Argument(...),
           strategy: list[str] = typer.Option(..., "--strategy", "-s", help="A chosen action or regimen code"),
           rationale: str = typer.Option(..., "--rationale"),
           concordant: bool = typer.Option(..., "--concordant/--not-concordant",
                                           help="Whether the decision follows the assessment"),
           deviation: str = typer.Option(None, "--deviation", help=", ".join(DEVIATION_REASONS)),
           deviation_text: str = typer.Option(None, "--deviation-text"),
           participant: list[str] = typer.Option([], "--participant", "-p",
                                                 help="ROLE:NAME (e.g. hepatobiliary_surgeon:A. Silva), repeatable"),
           user: str = USER, db: str = DB) -> None:
    """Record the MDT decision on a case (coordinators only)."""
    people: dict[str, list[str]] = {}
    for item in participant:
        role, sep, name = item.partition(":")
        if not sep or not name.strip():
            _fail(f"--participant {item!r}: expected ROLE:NAME (roles: {', '.join(BOARD_ROLES)})", EXIT_INPUT)
        people.setdefault(role.strip(), []).append(name.strip())
    d = _run(db, lambda s: s.decide(case_id, strategies=strategy, rationale=rationale, concordant=concordant,
                                    user=user, deviation=deviation, deviation_text=deviation_text,
                                    participants=people))
    out.print(f"decision {d.id} recorded for case {d.case_id} (assessment {d.assessment_id}, "
              f"{'concordant' if d.concordant else 'not concordant: ' + (d.deviation_code or '')})")


# ---- audit ------------------------------------------------------------------------------------
ANCHOR = typer.Option([], "--anchor", help="A file of heads written by `mcrc audit head --append`: the log must still "
                                           "hold every one (repeatable)")


@audit_app.command("verify-chain")
def audit_verify(db: str = DB, anchor: list[Path] = ANCHOR) -> None:
    """Check the audit hash chain and every audited record against it; exit 1 and list every finding."""
    anchors = []
    for path in anchor:
        try:
            text = read_source(str(path)).decode("utf-8")
        except UnicodeDecodeError:
            _fail(f"{path}: not UTF-8 text (an anchor file holds lines written by `mcrc audit head --append`)",
                  EXIT_INPUT)
        try:
            anchors += audit.parse_anchors(text, str(path))
        except InputError as exc:
            _fail(str(exc), EXIT_INPUT)
    report = _run(db, lambda s: s.verify_chain(anchors))
    if report.ok:
        out.print(str(report), markup=False)
        return
    err.print(f"audit chain BROKEN: {len(report.findings)} finding(s), first broken first", style="bold red")
    for f in report.findings:
        err.print(f"  - {f}", markup=False)
    raise typer.Exit(1)


@audit_app.command("head")
def audit_head(db: str = DB,
               append: Path = typer.Option(None, "--append", help="Also append the line to FILE, kept outside the "
                                           "database (append-only: chattr +a, a WORM store)")) -> None:
    """Print the head of the audit chain (seq, entry hash, time) as one line to keep outside the database;
    `mcrc audit verify-chain --anchor FILE` then finds a log truncated, rolled back or rewritten up to it."""
    head = _run(db, lambda s: s.audit_head())
    if not head.in_log:
        err.print(f"the audit head names entry {head.seq}, which the log does not hold: nothing to anchor "
                  "(run `mcrc audit verify-chain`)", style="bold red", markup=False)
        raise typer.Exit(1)
    if append is not None:
        try:
            with append.open("a", encoding="utf-8") as f:
                f.write(head.line + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            _fail(f"{append}: cannot append ({exc.strerror or exc})", EXIT_INPUT)
    sys.stdout.write(head.line + "\n")


@audit_app.command("export")
def audit_export(user: str = USER, db: str = DB) -> None:
    """Print the audit log as a FHIR R4 Bundle of AuditEvent resources (auditors and admins)."""
    _json(_run(db, lambda s: s.export_audit_fhir(user)))


# ---- demo -------------------------------------------------------------------------------------
DEMO_USERS = {"demo-admin": "admin", "demo-clinician": "clinician", "demo-coordinator": "coordinator",
              "demo-auditor": "auditor"}


# the demo users `mcrc demo seed` prints a sign-in token for, and what each may do (decision record 0040)
DEMO_SIGN_IN = {"demo-clinician": "reads and assesses cases and edits patients; cannot record decisions",
                "demo-coordinator": "does the same and records the board's decisions"}


@demo_app.command("seed")
def demo_seed(directory: Path = typer.Argument(Path("examples"), help="Folder of patient JSON files"),
              db: str = DB) -> None:
    """Upgrade the database, add demo users, add and assess every sample case not yet stored, and print a
    fresh API token of the demo clinician and one of the demo coordinator (to sign in to the web page or call the
    API; only the coordinator records decisions)."""
    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        _fail(f"{directory}: no patient JSON files found", EXIT_INPUT)
    patients = [(f.name, _read_patient(str(f))) for f in files]

    def run(s: Store) -> tuple[int, dict[str, str]]:
        s.upgrade()
        for name, role in DEMO_USERS.items():
            s.ensure_user(name, role)
        present = {c.label for c in s.list_cases("demo-clinician")}
        added = 0
        for _name, p in patients:
            if p.id is not None and p.id in present:
                continue
            c = s.add_case(p, "demo-clinician")
            s.assess(c.id, "demo-clinician")
            added += 1
        return added, {name: s.create_token(name, label="demo seed").token for name in DEMO_SIGN_IN}

    added, tokens = _run(db, run, current=False)
    out.print(f"seeded {added} new case(s) from {directory} ({len(files) - added} already present); "
              f"users: {', '.join(DEMO_USERS)}")
    out.print("Sign in to the web page with one of these API tokens (shown once), or send "
              "'Authorization: Bearer TOKEN':")
    for name, token in tokens.items():
        out.print(f"API token of {name} ({DEMO_USERS[name]}: {DEMO_SIGN_IN[name]}): {token}")


store_app.add_typer(db_app, name="db")
store_app.add_typer(case_app, name="case")
store_app.add_typer(audit_app, name="audit")
store_app.add_typer(user_app, name="user")
store_app.add_typer(demo_app, name="demo")
store_app.command("decide")(decide)


def main() -> None:
    store_app()


if __name__ == "__main__":  # pragma: no cover
    main()
