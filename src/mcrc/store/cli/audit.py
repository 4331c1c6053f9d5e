"""`mcrc audit`: the audit trail's hash chain verified, its head anchored outside the database, FHIR export."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mcrc.console import EXIT_INPUT, err, out, read_source
from mcrc.console import fail as _fail
from mcrc.errors import InputError
from mcrc.store import audit
from mcrc.store.cli.common import DB, USER, group, print_json, run_store

audit_app = group("The audit trail: verify its hash chain, anchor its head outside the database, export it as FHIR "
                  "AuditEvents.")


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
    report = run_store(db, lambda s: s.verify_chain(anchors))
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
    head = run_store(db, lambda s: s.audit_head())
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
    print_json(run_store(db, lambda s: s.export_audit_fhir(user)))
