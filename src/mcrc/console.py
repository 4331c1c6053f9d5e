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


def read_source(source: str) -> bytes:
    """The bytes of a file argument, or of standard input for `-`; a missing, oversized or unreadable file
    fails with exit 2. Bytes, not text: decoding (UTF-8, a byte-order mark) is the strict JSON reader's job,
    so every entry point decodes the same way."""
    import sys
    from pathlib import Path

    from mcrc.strictjson import MAX_BYTES

    if source == "-":
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
    else:
        path = Path(source)
        if not path.is_file():
            fail(f"{source}: no such file", EXIT_INPUT)
        try:
            if path.stat().st_size > MAX_BYTES:
                fail(f"{source}: the file is {path.stat().st_size:,} bytes; the limit is {MAX_BYTES:,}", EXIT_INPUT)
            data = path.read_bytes()
        except OSError as exc:
            fail(f"{source}: cannot read ({exc.__class__.__name__}: {exc.strerror or exc})", EXIT_INPUT)
    if len(data) > MAX_BYTES:
        fail(f"{source}: more than the limit of {MAX_BYTES:,} bytes", EXIT_INPUT)
    return data
