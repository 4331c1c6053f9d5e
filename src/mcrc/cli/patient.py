"""`mcrc recommend`, `mcrc schema` and `mcrc demo examples`: one patient (or every sample case) assessed and shown."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from mcrc.cli.common import Format, guard, render
from mcrc.console import EXIT_INPUT, err, out, read_source
from mcrc.console import fail as _fail


def recommend(
    source: str = typer.Argument(..., help="Patient JSON file, or - for standard input"),
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text, json or md"),
    trace: bool = typer.Option(True, "--trace/--no-trace", help="Include the evaluation trace in JSON output"),
    fhir: bool = typer.Option(False, "--fhir", help="The input is an mCODE-style FHIR R4 Bundle"),
    evidence: bool = typer.Option(None, "--evidence/--no-evidence",
                                  help="Show newer trial evidence beside the guidelines "
                                       "(default: MCRC_SHOW_EVIDENCE, on)"),
    strict: bool = typer.Option(False, "--strict", help="Show the strict answer (nothing assumed) instead of the "
                                                        "provisional one, where presumptions were used"),
) -> None:
    """Assess one patient and print the cited recommendation. Where the summary leaves out findings a clinician
    takes as absent (presumptions.yaml), the provisional answer is shown first with its assumptions."""
    text = read_source(source)

    def run():
        from mcrc.engine import assess

        if fhir:
            from mcrc import strictjson
            from mcrc.fhir import read_bundle

            result = read_bundle(strictjson.loads(text))
            for line in result.unmapped:
                err.print(f"[yellow]not mapped:[/] {line}")
            for line in result.warnings:
                err.print(f"[yellow]warning:[/] {line}")
            patient = result.patient
        else:
            from mcrc.patient import parse_patient_json

            patient = parse_patient_json(text)
        return assess(patient, show_evidence=evidence)

    a = guard(run)
    sys.stdout.write(render(a, fmt, trace, strict))
    if fmt is not Format.text:
        sys.stdout.write("\n")


def schema() -> None:
    """Print the JSON Schema of the Patient input."""
    from mcrc.patient import Patient

    sys.stdout.write(json.dumps(Patient.model_json_schema(), indent=2) + "\n")


def demo_examples(
    directory: Path = typer.Argument(Path("examples"), help="Folder of patient JSON files"),
    fmt: Format = typer.Option(Format.text, "--format", "-f"),
) -> None:
    """Assess every sample case in a folder and print the results (the main job of `make run`)."""
    from mcrc.engine import assess
    from mcrc.errors import McrcError
    from mcrc.patient import parse_patient_json

    files = sorted(directory.glob("*.json")) if directory.is_dir() else []
    if not files:
        _fail(f"{directory}: no patient JSON files found", EXIT_INPUT)
    failures = 0
    for path in files:
        try:
            a = assess(parse_patient_json(path.read_text(encoding="utf-8")))
        except McrcError as exc:
            failures += 1
            err.print(f"[bold red]{path.name}[/]: {exc}")
            continue
        out.print(f"[bold]== {path.name}[/]")
        sys.stdout.write(render(a, fmt, trace=False) + "\n")
    out.print(f"assessed {len(files) - failures} of {len(files)} sample cases")
    if failures:
        raise typer.Exit(1)
