"""`mcrc kb` and `mcrc vocab`: the knowledge base's tables and rows, facts, sources, traceability and vocabulary."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

import typer
from rich.table import Table

from mcrc.cli.common import Format, guard, knowledge
from mcrc.cli.lazy import Lazy, LazyGroup
from mcrc.console import EXIT_INPUT, out
from mcrc.console import fail as _fail
from mcrc.vocabulary import SECTIONS


class KbGroup(LazyGroup):
    order = ("show", "facts", "sources", "trace", "reviews")
    lazy: ClassVar[dict[str, Lazy]] = {"reviews": Lazy("mcrc.cli.reviews:reviews_app",
                            "Clinical review of the rows: list every row's status, export the marks made in the app "
                            "for a knowledge maintainer to merge into reviews.yaml.")}


kb_app = typer.Typer(add_completion=False, help="Inspect the knowledge base.", invoke_without_command=True,
                     cls=KbGroup)


def vocab(section: str = typer.Option(None, "--section", "-s", help=f"One of: {', '.join(SECTIONS)}")) -> None:
    """List the coded vocabulary (codes, labels, classes)."""
    kb = knowledge()
    sections = [section] if section else list(SECTIONS)
    if section and section not in SECTIONS:
        _fail(f"unknown section {section!r}; allowed: {', '.join(SECTIONS)}", EXIT_INPUT)
    for name in sections:
        table = Table(title=name, show_lines=False, expand=False)
        table.add_column("code")
        table.add_column("label")
        table.add_column("class / drugs")
        for code, term in kb.vocabulary.terms[name].items():
            table.add_row(code, term.label, ", ".join(term.drugs) or (term.klass or ""))
        out.print(table)


@kb_app.callback()
def kb_list(ctx: typer.Context) -> None:
    """List tables and rows (or use a subcommand)."""
    if ctx.invoked_subcommand is not None:
        return
    kb = knowledge()
    out.print(f"knowledge base {kb.version}: {len(kb.tables)} tables, {len(kb.rows)} rows")
    for t in kb.tables:
        out.print(f"\n[bold]{t.id}[/] ({t.hit}) {t.title}  [dim]{t.file}:{t.line}[/]")
        for r in t.rows:
            mark = " (default)" if r.default else ""
            out.print(f"  {r.id}{mark}: {r.title}")


@kb_app.command("show")
def kb_show(row_id: str = typer.Argument(..., help="A row id from `mcrc kb`")) -> None:
    """Show one row: its condition, outputs and citations."""
    kb = knowledge()
    row = kb.rows.get(row_id)
    if row is None:
        import difflib

        close = difflib.get_close_matches(row_id, list(kb.rows), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see `mcrc kb`"
        _fail(f"no row {row_id!r}{hint}", EXIT_INPUT)
    out.print(f"[bold]{row.id}[/]  [dim]{row.file}:{row.line}[/]")
    out.print(f"situation: {row.title}")
    out.print(f"when: {'(default: no other row fired)' if row.default else row.when.text()}")
    if row.note:
        out.print(f"note: {row.note}")
    for i, s in enumerate(row.strategies, start=1):
        out.print(f"strategy {i}{' (' + s.label + ')' if s.label else ''}: " + " -> ".join(st.code for st in s.steps))
    for section, items in row.outputs.items():
        out.print(f"{section}: " + ", ".join(i.code for i in items))
    for c in row.citations:
        out.print(f"cite: {c.text()}")
    out.print(f"version: {row.version} (knowledge base {kb.version}; a review of the row names both)")
    out.print(f"clinical review: {review_words(kb.review_of(row.id))} (the knowledge base's reviews.yaml; "
              "`mcrc kb reviews list` adds the marks made in the app)", markup=False)


@kb_app.command("facts")
def kb_facts() -> None:
    """List every fact the rules may read, with its domain and origin."""
    from mcrc.facts.catalog import FACTS

    table = Table(title="facts")
    for col in ("fact", "domain", "from", "meaning"):
        table.add_column(col)
    for spec in FACTS.values():
        origin = f"definition {spec.definition}" if spec.definition else spec.source
        table.add_row(spec.name, spec.allowed(), origin, spec.doc)
    out.print(table)


@kb_app.command("sources")
def kb_sources(
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text, json or md"),
    kb_dir: Path = typer.Option(None, "--kb", help="A knowledge directory (default: the packaged one)"),
) -> None:
    """The citable sources with their kind, edition and year, and the newer editions known of each guideline."""
    from mcrc.render.sources import render_sources_markdown, render_sources_text, sources_view

    kb = knowledge(kb_dir)
    view = sources_view(kb)
    if fmt is Format.json:
        sys.stdout.write(json.dumps({"kb_version": kb.version, "sources": view}, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(render_sources_markdown(view) if fmt is Format.md else render_sources_text(view))


class TraceFormat(StrEnum):
    text = "text"
    md = "md"
    markdown = "markdown"  # the same as md
    json = "json"


@kb_app.command("trace")
def kb_trace(
    source: str = typer.Argument(None, help="A source id (e.g. ccs-lung-2019); without it, the counts of every "
                                            "source"),
    trace_fmt: TraceFormat = typer.Option(TraceFormat.text, "--format", "-f", help="text, md (or markdown) or json"),
    kb_dir: Path = typer.Option(None, "--kb", help="A knowledge directory (default: the packaged one)"),
) -> None:
    """The traceability matrix of a source: every clinical statement with the rows that encode it, or why not."""
    from mcrc.render import trace as rt

    fmt = Format.md if trace_fmt is TraceFormat.markdown else Format(trace_fmt.value)
    kb = knowledge(kb_dir)
    guard(lambda: kb.trace)  # a malformed matrix file: exit 3 with its file:line
    if source is None:
        rows = rt.summary_rows(kb)
        if fmt is Format.json:
            sys.stdout.write(json.dumps({"sources": rows}, indent=2) + "\n")
        else:
            sys.stdout.write(rt.render_summary_markdown(rows) if fmt is Format.md else rt.render_summary_text(rows))
        return
    if source not in kb.trace.sources:
        with_matrix = ", ".join(kb.trace.sources) or "none"
        if source in kb.sources:
            _fail(f"source {source!r} has no traceability matrix (sources with one: {with_matrix})", EXIT_INPUT)
        _fail(f"unknown source {source!r}; sources with a traceability matrix: {with_matrix}", EXIT_INPUT)
    view = rt.source_view(kb, source)
    if fmt is Format.json:
        sys.stdout.write(json.dumps(view, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(rt.render_trace_markdown(view) if fmt is Format.md else rt.render_trace_text(view))


def review_words(rv) -> str:
    """A row's review status in words (`mcrc kb show`, `mcrc kb reviews list`)."""
    if rv.status == "not_reviewed":
        return "not clinically reviewed"
    by = f"{rv.reviewer} ({rv.role}) on {rv.date}"
    if rv.status == "reviewed":
        return f"reviewed by {by}"
    if rv.status == "concern":
        return f"CONCERN raised by {by}: {rv.comment}"
    earlier = "reviewed" if rv.earlier_status == "reviewed" else "a concern raised"
    return f"not clinically reviewed in its current version ({earlier} by {by}, before the row changed)"
