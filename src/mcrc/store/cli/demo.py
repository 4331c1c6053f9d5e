"""`mcrc demo seed`: demo users and every sample case stored and assessed, with sign-in tokens for the web page."""

from __future__ import annotations

from pathlib import Path

import typer

from mcrc.console import EXIT_INPUT, out
from mcrc.console import fail as _fail
from mcrc.store.api import Store
from mcrc.store.cli.common import DB, group, read_patient, run_store

demo_app = group("Sample data.")


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
    patients = [(f.name, read_patient(str(f))) for f in files]

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

    added, tokens = run_store(db, run, current=False)
    out.print(f"seeded {added} new case(s) from {directory} ({len(files) - added} already present); "
              f"users: {', '.join(DEMO_USERS)}")
    out.print("Sign in to the web page with one of these API tokens (shown once), or send "
              "'Authorization: Bearer TOKEN':")
    for name, token in tokens.items():
        out.print(f"API token of {name} ({DEMO_USERS[name]}: {DEMO_SIGN_IN[name]}): {token}")
