"""The `mcrc` command line: the root app and its commands; the store, cohort and CDS Hooks groups load when run.

Bad input exits 2 with a specific message, never a traceback. Start-up is kept short (issue 23, decision record 0049):
this package imports Typer, Rich and its own small modules; each command imports what it needs when it runs, and the
groups living in outer packages (the case store, cohorts, CDS Hooks) are imported only when one of their commands
runs, so `mcrc recommend`, `mcrc kb`, `mcrc vocab` and `mcrc --help` never load the store, the web app or the
dataframe engines (tests/test_cli_startup.py).
"""

from __future__ import annotations

from typing import ClassVar

import typer

from mcrc.cli.extract import extract
from mcrc.cli.kb import kb_app, vocab
from mcrc.cli.lazy import Lazy, LazyGroup
from mcrc.cli.patient import demo_examples, recommend, schema
from mcrc.cli.serve import mcp_server, serve
from mcrc.cli.verify import verify


class RootGroup(LazyGroup):
    order = ("decide", "recommend", "schema", "vocab", "verify", "serve", "mcp", "extract",
             "kb", "db", "case", "audit", "user", "demo", "cohort", "cds")
    lazy: ClassVar[dict[str, Lazy]] = {
        "decide": Lazy("mcrc.store.cli.cases:decide", "Record the MDT decision on a case (coordinators only)."),
        "db": Lazy("mcrc.store.cli.users:db_app", "Create or upgrade the case store's database."),
        "case": Lazy("mcrc.store.cli.cases:case_app",
                     "Tumor-board cases: add, list, show, assess, diff, delete, export, import, reassess-stale."),
        "audit": Lazy("mcrc.store.cli.audit:audit_app",
                      "The audit trail: verify its hash chain, anchor its head outside the database, export it as "
                      "FHIR AuditEvents."),
        "user": Lazy("mcrc.store.cli.users:user_app", "Users of the store, their roles and API tokens."),
        "cohort": Lazy("mcrc.cohort.cli:cohort_app",
                       "Cohort audits: the rules over a table of decision points (DuckDB, Polars, Spark)."),
        "cds": Lazy("mcrc.api.cds_cli:cds_app",
                    "CDS Hooks: a local demo client (key pair in the data folder) to call the services."),
    }


class DemoGroup(LazyGroup):
    order = ("seed", "examples")
    lazy: ClassVar[dict[str, Lazy]] = {"seed": Lazy("mcrc.store.cli.demo:demo_seed",
                         "Upgrade the database, add demo users, add and assess every sample case not yet stored, and "
                         "print a\n"
                         "fresh API token of the demo clinician and one of the demo coordinator (to sign in to the web "
                         "page or call the\n"
                         "API; only the coordinator records decisions).")}


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=RootGroup,
                  help="Cited, explained decision support for metastatic colorectal cancer.")
demo_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=DemoGroup,
                       help="Sample data.")
app.command()(recommend)
app.command()(schema)
app.command()(vocab)
app.command()(verify)
app.command()(serve)
app.command("mcp")(mcp_server)
app.command()(extract)
app.add_typer(kb_app, name="kb")
app.add_typer(demo_app, name="demo")
demo_app.command("examples")(demo_examples)


def main() -> None:
    app()


__all__ = ["app", "main"]
