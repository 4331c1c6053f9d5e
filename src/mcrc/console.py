"""What every `mcrc` command shares: the two consoles, the exit codes and the one way to fail.

The CLI is split by stage (mcrc.cli, mcrc.store.cli, mcrc.cohort.cli); they must print errors and exit
the same way, so they take these from here rather than each defining their own.
"""

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_INPUT = 2  # bad input (file, patient, cohort, configuration)
EXIT_KNOWLEDGE = 3  # a malformed knowledge base
EXIT_ENGINE = 4  # an engine error (hit policy, safety)
EXIT_DATABASE = 5  # the store is unreachable or not upgraded


def fail(message: str, code: int) -> None:
    """Print `error: message` on stderr and exit with `code` (never a traceback)."""
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)
