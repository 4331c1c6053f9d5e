"""`mcrc extract`: report text read into a draft patient, each field with the words it came from."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer

from mcrc.cli.common import guard
from mcrc.console import EXIT_INPUT, err, out
from mcrc.console import fail as _fail


class ReportKind(StrEnum):
    auto = "auto"
    pathology = "pathology"
    radiology = "radiology"
    letter = "letter"


def extract(
    files: list[Path] = typer.Argument(..., help="Report text files (UTF-8 plain text)", exists=False),
    kind: ReportKind = typer.Option(ReportKind.auto, "--type", "-t",
                                    help="What the reports are: pathology, radiology, letter, or auto (from the text)"),
    output: Path = typer.Option(None, "-o", "--output", help="Write the draft (patient, provenance, conflicts, "
                                                               "unmapped) as JSON to this file"),
) -> None:
    """Read pathology, radiology and referral-letter text into a draft patient, each field with the words it came
    from. A draft: check it against the reports before use (docs/extraction.md)."""
    from mcrc import extract as extraction  # imports spaCy/medspaCy only when this command runs

    documents = []
    for path in files:
        try:
            if path.is_file() and path.stat().st_size > extraction.MAX_BYTES:
                _fail(f"{path}: the file is {path.stat().st_size:,} bytes; the limit is {extraction.MAX_BYTES:,}",
                      EXIT_INPUT)
            data = path.read_bytes()
        except FileNotFoundError:
            _fail(f"{path}: no such file", EXIT_INPUT)
        except OSError as exc:
            _fail(f"{path}: cannot read ({exc.strerror or exc})", EXIT_INPUT)
        documents.append(guard(lambda p=path, d=data: extraction.document_from_bytes(
            p.name, d, None if kind is ReportKind.auto else kind.value)))
    draft = guard(lambda: extraction.extract(documents)).as_dict()
    from mcrc.extract.view import draft_tables

    for part in draft_tables(draft):
        out.print(part)
    if output is not None:
        try:
            output.write_text(json.dumps(draft, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"{output}: cannot write ({exc.strerror or exc})", EXIT_INPUT)
        err.print(f"draft written to {output}", markup=False)
