"""`mcrc verify`: the proofs over the knowledge base (complete, exclusive, reachable, safe), as a table or JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from mcrc.cli.common import Format, knowledge
from mcrc.console import err, out


def verify(
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text or json"),
    kb_dir: Path = typer.Option(None, "--kb", help="A knowledge directory (default: the packaged one)"),
) -> None:
    """Prove the knowledge base complete, exclusive, reachable and safe over every possible patient."""
    from rich.progress import Progress

    from mcrc.verify import verify as run_verify
    from mcrc.verify.checks import CHECKS

    kb = knowledge(kb_dir)
    with Progress(console=err, transient=True, disable=fmt is Format.json) as progress:
        task = progress.add_task("verifying", total=len(CHECKS))

        def step(name: str) -> None:
            progress.update(task, advance=1, description=f"checking {name}")

        report = run_verify(kb, progress=step)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(_report_json(report), indent=2) + "\n")
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)


def _report_json(report) -> dict:
    return {
        "ok": report.ok, "kb_version": report.kb_version, "seconds": round(report.seconds, 3),
        "questions": report.questions,
        "checks": [{"check": r.name, "questions": r.questions, "failures": len(r.failures),
                    **({"counts": r.counts} if r.counts else {}),
                    **({"open_statements": r.notes} if r.name == "traceability" else {})} for r in report.results],
        "failures": [{"check": f.check, "subject": f.subject, "message": f.message, "facts": f.facts,
                      "patient": f.patient, "not_reproduced": f.not_reproduced} for f in report.failures],
    }


def _print_report(report) -> None:
    table = Table(title=f"mcrc verify - knowledge base {report.kb_version}")
    for col in ("check", "questions", "result"):
        table.add_column(col)
    for r in report.results:
        verdict = "[green]holds[/]" if not r.failures else f"[red]{len(r.failures)} failed[/]"
        if r.counts.get("open"):
            verdict += f" [yellow]({r.counts['open']} open)[/]"
        table.add_row(r.name, str(r.questions), verdict)
    out.print(table)
    for r in report.results:
        if r.notes:
            out.print(f"[yellow]{r.name}: {len(r.notes)} statement(s) open[/] (not encoded yet, see "
                      f"`mcrc kb trace SOURCE`): {', '.join(r.notes)}")
    for f in report.failures:
        out.print(f"\n[bold red]{f.check}[/]: {f.subject}\n  {f.message}")
        if f.facts:
            out.print("  facts: " + ", ".join(f"{k}={v}" for k, v in f.facts.items()))
        if f.patient is not None:
            out.print("  counterexample patient (mcrc recommend accepts it):")
            sys.stdout.write(json.dumps(f.patient, indent=2) + "\n")
        if f.not_reproduced:
            out.print(f"  [yellow]the patient does not reproduce: {', '.join(f.not_reproduced)}[/]")
    verdict = "all checks hold" if report.ok else f"{len(report.failures)} failure(s)"
    out.print(f"\n{verdict}: {report.questions} questions over every consistent patient in {report.seconds:.2f} s")
