"""`mcrc cds`: set up the local demo CDS Client and call the CDS Hooks services as an EHR would."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mcrc.console import EXIT_INPUT, out
from mcrc.console import fail as _fail

cds_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                      help="CDS Hooks: a local demo client (key pair in the data folder) to call the services.")
DATA_DIR = typer.Option(Path(".mcrc"), "--data-dir", help="Folder of the demo key pair (never commit it)")
_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@cds_app.command("demo-setup")
def demo_setup(data_dir: Path = DATA_DIR,
               url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The server's public URL")) -> None:
    """Create (or keep) the demo issuer's key pair and issuer file, and print the command that calls the
    service with it. Serve with MCRC_CDS_ISSUERS=<data-dir>/cds-issuers.json to trust it."""
    from mcrc.api.cds_demo import ISSUERS_FILE, ensure_demo_issuer

    try:
        issuer = ensure_demo_issuer(data_dir)
    except OSError as exc:
        _fail(f"{data_dir}: cannot write the demo key pair ({exc.strerror or exc})", EXIT_INPUT)
    verb = "created" if issuer.created else "kept"
    out.print(f"CDS Hooks demo issuer {verb}: {issuer.key_file} (private, never commit), "
              f"{data_dir / ISSUERS_FILE} (trusted by the server)", highlight=False, soft_wrap=True)
    extra = ("" if url == "http://127.0.0.1:8000" else f" --url {url}") + \
        ("" if data_dir == Path(".mcrc") else f" --data-dir {data_dir}")
    out.print("Try the CDS Hooks service once the server is up:\n  .venv/bin/mcrc cds demo-call patient-view "
              f"examples/fhir/01-sync-rectal-lung-mets.json{extra}", highlight=False, soft_wrap=True)


@cds_app.command("demo-call")
def demo_call(hook: str = typer.Argument(..., help="patient-view or order-select"),
              bundle: Path = typer.Argument(..., help="FHIR Bundle of the patient's record (JSON file)"),
              url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The server's public URL"),
              order: str = typer.Option(None, "--order", help="order-select: the drug ordered, in words"),
              data_dir: Path = DATA_DIR,
              as_json: bool = typer.Option(False, "--json", help="Print the cards as JSON")) -> None:
    """Call a CDS Hooks service as the demo EHR: the record sent whole, the JWT signed with the demo key."""
    from mcrc.api.cds_demo import DemoError
    from mcrc.api.cds_demo import demo_call as call

    try:
        cards = call(url, hook, bundle, data_dir, order=order)
    except DemoError as exc:
        _fail(str(exc), EXIT_INPUT)
    if as_json:
        out.print_json(json.dumps({"cards": cards}))
        return
    if not cards:
        out.print("no cards (nothing to say for this record)")
    for n, c in enumerate(cards, 1):
        ind = c.get("indicator", "info")
        out.print(f"[{_STYLE.get(ind, '')}]{n}. {ind.upper()}[/]: {c.get('summary', '')}", highlight=False,
                  soft_wrap=True)
        src = (c.get("source") or {}).get("label")
        if src:
            out.print(f"   source: {src}", highlight=False, soft_wrap=True, markup=False)
