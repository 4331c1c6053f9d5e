"""The `mcrc` command line. Bad input exits 2 with a specific message, never a traceback."""

from __future__ import annotations

import contextlib
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from mcrc import strictjson
from mcrc.api.cds_cli import cds_app
from mcrc.cohort.cli import cohort_app
from mcrc.console import EXIT_ENGINE, EXIT_INPUT, EXIT_KNOWLEDGE, err, out, read_source
from mcrc.console import fail as _fail
from mcrc.engine import assess
from mcrc.errors import EngineError, InputError, KnowledgeError, McrcError
from mcrc.facts.catalog import FACTS
from mcrc.knowledge import load_knowledge
from mcrc.patient import Patient, parse_patient_json
from mcrc.render import render_json, render_markdown, render_text
from mcrc.store.cli import DB, _run, audit_app, case_app, db_app, decide, demo_app, user_app
from mcrc.vocabulary import SECTIONS

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cited, explained decision support for metastatic colorectal cancer.")
kb_app = typer.Typer(add_completion=False, help="Inspect the knowledge base.", invoke_without_command=True)
app.add_typer(kb_app, name="kb")
app.add_typer(db_app, name="db")
app.add_typer(case_app, name="case")
app.add_typer(audit_app, name="audit")
app.add_typer(user_app, name="user")
app.add_typer(demo_app, name="demo")
app.add_typer(cohort_app, name="cohort")
app.add_typer(cds_app, name="cds")
app.command("decide")(decide)
reviews_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                          help="Clinical review of the rows: list every row's status, export the marks made in the "
                               "app for a knowledge maintainer to merge into reviews.yaml.")
kb_app.add_typer(reviews_app, name="reviews")


class Format(StrEnum):
    text = "text"
    json = "json"
    md = "md"


def _render(a, fmt: Format, trace: bool, strict: bool = False) -> str:
    if fmt is Format.json:  # JSON carries both: the strict answer, and `provisional` with its assumptions
        return render_json(a, trace=trace)
    if fmt is Format.md:
        return render_markdown(a, strict=strict)
    return render_text(a, width=max(out.width, 100), strict=strict)


def _guard(fn):
    """Turn the documented errors into exit codes and messages."""
    try:
        return fn()
    except InputError as exc:
        _fail(f"{exc}", EXIT_INPUT)
    except KnowledgeError as exc:
        _fail(f"{exc}", EXIT_KNOWLEDGE)
    except EngineError as exc:
        _fail(f"{exc}", EXIT_ENGINE)
    except McrcError as exc:  # pragma: no cover - every subclass is handled above
        _fail(str(exc), 1)


@app.command()
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
        if fhir:
            from mcrc.fhir import read_bundle

            result = read_bundle(strictjson.loads(text))
            for line in result.unmapped:
                err.print(f"[yellow]not mapped:[/] {line}")
            for line in result.warnings:
                err.print(f"[yellow]warning:[/] {line}")
            patient = result.patient
        else:
            patient = parse_patient_json(text)
        return assess(patient, show_evidence=evidence)

    a = _guard(run)
    sys.stdout.write(_render(a, fmt, trace, strict))
    if fmt is not Format.text:
        sys.stdout.write("\n")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the Patient input."""
    sys.stdout.write(json.dumps(Patient.model_json_schema(), indent=2) + "\n")


@app.command()
def vocab(section: str = typer.Option(None, "--section", "-s", help=f"One of: {', '.join(SECTIONS)}")) -> None:
    """List the coded vocabulary (codes, labels, classes)."""
    kb = _guard(load_knowledge)
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
    kb = _guard(load_knowledge)
    out.print(f"knowledge base {kb.version}: {len(kb.tables)} tables, {len(kb.rows)} rows")
    for t in kb.tables:
        out.print(f"\n[bold]{t.id}[/] ({t.hit}) {t.title}  [dim]{t.file}:{t.line}[/]")
        for r in t.rows:
            mark = " (default)" if r.default else ""
            out.print(f"  {r.id}{mark}: {r.title}")


@kb_app.command("show")
def kb_show(row_id: str = typer.Argument(..., help="A row id from `mcrc kb`")) -> None:
    """Show one row: its condition, outputs and citations."""
    kb = _guard(load_knowledge)
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
    out.print(f"clinical review: {_review_words(kb.review_of(row.id))} (the knowledge base's reviews.yaml; "
              "`mcrc kb reviews list` adds the marks made in the app)", markup=False)


@kb_app.command("facts")
def kb_facts() -> None:
    """List every fact the rules may read, with its domain and origin."""
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
    from mcrc.knowledge import load_knowledge_dir
    from mcrc.render.sources import render_sources_markdown, render_sources_text, sources_view

    kb = _guard(lambda: load_knowledge_dir(kb_dir) if kb_dir else load_knowledge())
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
    from mcrc.knowledge import load_knowledge_dir
    from mcrc.render import trace as rt

    fmt = Format.md if trace_fmt is TraceFormat.markdown else Format(trace_fmt.value)
    kb = _guard(lambda: load_knowledge_dir(kb_dir) if kb_dir else load_knowledge())
    _guard(lambda: kb.trace)  # a malformed matrix file: exit 3 with its file:line
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


@app.command()
def verify(
    fmt: Format = typer.Option(Format.text, "--format", "-f", help="text or json"),
    kb_dir: Path = typer.Option(None, "--kb", help="A knowledge directory (default: the packaged one)"),
) -> None:
    """Prove the knowledge base complete, exclusive, reachable and safe over every possible patient."""
    from rich.progress import Progress

    from mcrc.knowledge import load_knowledge_dir
    from mcrc.verify import verify as run_verify
    from mcrc.verify.checks import CHECKS

    kb = _guard(lambda: load_knowledge_dir(kb_dir) if kb_dir else load_knowledge())
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


@demo_app.command("examples")
def demo_examples(
    directory: Path = typer.Argument(Path("examples"), help="Folder of patient JSON files"),
    fmt: Format = typer.Option(Format.text, "--format", "-f"),
) -> None:
    """Assess every sample case in a folder and print the results (the main job of `make run`)."""
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
        sys.stdout.write(_render(a, fmt, trace=False) + "\n")
    out.print(f"assessed {len(files) - failures} of {len(files)} sample cases")
    if failures:
        raise typer.Exit(1)


@app.command()
def serve(
    config: Path = typer.Option(None, "--config", help="TOML configuration file (default: $MCRC_CONFIG; "
                                                       "keys in docs/api.md)"),
    host: str = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, "--port", help="Port (default 8000)"),
    db: str = typer.Option(None, "--db", help="Store URL (default sqlite:///mcrc.db)"),
    open_assess: bool = typer.Option(None, "--open-assess/--closed-assess",
                                     help="Allow POST /api/v1/assess without a token (local use only)"),
    workers: int = typer.Option(None, "--workers", help="Server processes (default 1; set to the number of cores)"),
    public_url: str = typer.Option(None, "--public-url",
                                   help="The URL clients call (required with CDS Hooks issuers: the JWT audience)"),
) -> None:
    """Serve the web page, the REST API (/api/v1, OpenAPI at /openapi.json) and, when issuers are configured,
    CDS Hooks. Settings: file < MCRC_* environment < these flags. Tokens: `mcrc user token create NAME`."""
    import os

    import uvicorn

    from mcrc.api.app import create_app
    from mcrc.config import load_config

    flags = {"host": host, "port": port, "database_url": db, "open_assess": open_assess, "workers": workers,
             "public_url": public_url}
    cfg = _guard(lambda: load_config(config, os.environ, flags))
    settings = _guard(cfg.settings)
    out.print(f"mcrc on http://{cfg.host}:{cfg.port}/ (API: /api/v1, OpenAPI: /openapi.json)"
              + ("; CDS Hooks at /cds-services" if settings.cds else "")
              + (f"; {cfg.workers} workers" if cfg.workers > 1 else ""))
    if cfg.workers == 1:
        uvicorn.run(create_app(settings), host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
        return
    with _worker_environment(config, flags, cfg, settings) as env:
        os.environ.update(env)
        uvicorn.run("mcrc.api.app:app_from_environment", factory=True, workers=cfg.workers, host=cfg.host,
                    port=cfg.port, log_level="warning", access_log=False)


@app.command("mcp")
def mcp_server(
    kb_dir: Path = typer.Option(None, "--kb", help="A knowledge directory (default: the packaged one)"),
    http: bool = typer.Option(False, "--http", help="Streamable HTTP at /mcp instead of stdio, behind the REST API's "
                                                    "API tokens and request size limit"),
    config: Path = typer.Option(None, "--config", help="With --http: TOML configuration file, as for `mcrc serve`"),
    host: str = typer.Option(None, "--host", help="With --http: interface to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, "--port", help="With --http: port (default 8000, as `mcrc serve`: give another "
                                                  "to run both)"),
    db: str = typer.Option(None, "--db", help="With --http: the store holding the API tokens (default "
                                              "sqlite:///mcrc.db)"),
) -> None:
    """Serve the engine to AI assistants over the Model Context Protocol on standard input and output (an MCP
    client such as Claude Desktop or VS Code launches it): tools assess, explain_row, search_knowledge, vocabulary,
    patient_schema; resources mcrc://sources and mcrc://trace. Every answer names the engine and knowledge-base
    digest it comes from. See docs/mcp.md."""
    from mcrc.knowledge import load_knowledge_dir

    if not http and any(v is not None for v in (config, host, port, db)):
        _fail("--config, --host, --port and --db go with --http (the stdio server has no port and no tokens)",
              EXIT_INPUT)
    # a malformed knowledge base stops here (exit 3, file:line), before a client waits on it
    kb = _guard(lambda: load_knowledge_dir(kb_dir) if kb_dir else load_knowledge())
    if not http:
        from mcrc.mcp_server import run_stdio  # the SDK is imported by this command only (CLI start-up time)

        with contextlib.suppress(KeyboardInterrupt):
            run_stdio(kb)
        return
    import os

    import uvicorn

    from mcrc.config import load_config
    from mcrc.mcp_server import MCP_PATH, http_app, log_to_stderr
    from mcrc.store.api import Store

    cfg = _guard(lambda: load_config(config, os.environ, {"host": host, "port": port, "database_url": db}))
    settings = _guard(cfg.settings)
    store = Store(settings.database_url, token_cache_seconds=settings.token_cache_seconds)
    log_to_stderr()
    asgi = http_app(kb, store.resolve_token, max_body_bytes=settings.max_body_bytes, host=cfg.host)
    err.print(f"mcrc MCP server on http://{cfg.host}:{cfg.port}{MCP_PATH} (the case store's API tokens; request "
              f"bodies up to {settings.max_body_bytes:,} bytes)", markup=False)
    try:
        uvicorn.run(asgi, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
    finally:
        store.close()


@contextlib.contextmanager
def _worker_environment(config: Path | None, flags: dict, cfg, settings):
    """What the workers of one `mcrc serve` must share, as MCRC_* variables (they read their settings from the
    environment): the configuration file, the flags, one secret key (a session signed by one worker is
    honoured by the others) and one CDS replay cache (a JWT replayed to another worker is still refused)."""
    import secrets
    import tempfile

    from mcrc.config import CONFIG_ENV, ENV

    env: dict[str, str] = {}
    if config is not None:
        env[CONFIG_ENV] = str(config.resolve())
    for key, value in flags.items():
        if value is not None and key not in ("host", "port", "workers"):
            env[ENV[key]] = str(value).lower() if isinstance(value, bool) else str(value)
    if settings.secret_key is None:
        env[ENV["secret_key"]] = secrets.token_urlsafe(32)  # this run's key, as with one process
    with tempfile.TemporaryDirectory(prefix="mcrc-serve-") as tmp:
        if settings.cds is not None and settings.replay_cache is None:
            env[ENV["replay_cache"]] = str(Path(tmp) / "cds-replays.sqlite")
        yield env


# ---- clinical review of the rows (issue 17) -------------------------------------------------------------------
def _review_words(rv) -> str:
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


def _review_book(db: str, file_only: bool):
    """The review status of every row: the knowledge file's, and the store's marks unless `file_only`."""
    if file_only:
        kb = _guard(load_knowledge)
        return kb, kb.review_book, []
    def read(store):
        kb = store.knowledge
        marks = store.reviews()
        book = store.review_book(fresh=True)
        if "store" not in book.sources:  # review_book falls back to the file for answers; a listing says so
            from mcrc.store.errors import StoreError

            raise StoreError("the review marks of the case store could not be read")
        return kb, book, marks

    return _run(db, read)


@reviews_app.command("list")
def reviews_list(
    db: str = DB,
    file_only: bool = typer.Option(False, "--file-only", help="Only the knowledge base's reviews.yaml (no store)"),
    every_row: bool = typer.Option(False, "--all", help="Every row, not only those with a review or a concern"),
    as_json: bool = typer.Option(False, "--json", help="JSON: {kb_version, reviews_from, counts, rows}"),
) -> None:
    """The clinical review status of the rows: the knowledge base's reviews.yaml and the marks made in the app. A row
    without a review of its current version is not clinically reviewed."""
    kb, book, _ = _review_book(db, file_only)
    shown = [rid for rid in kb.rows if every_row or book.get(rid).status != "not_reviewed"]
    counts = book.counts()
    if as_json:
        from dataclasses import asdict

        rows = {rid: {"version": kb.rows[rid].version, **asdict(book.get(rid))} for rid in shown}
        sys.stdout.write(json.dumps({"kb_version": kb.version, "reviews_from": list(book.sources),
                                     "counts": {**counts, "rows": len(kb.rows)}, "rows": rows},
                                    indent=2, default=str) + "\n")
        return
    where = "reviews.yaml and the case store's marks" if "store" in book.sources else "reviews.yaml only"
    out.print(f"knowledge base {kb.version}: {counts['reviewed']} of {len(kb.rows)} rows clinically reviewed, "
              f"a concern on {counts['concern']}, {counts['earlier_version']} reviewed only before a change; "
              f"every other row is not clinically reviewed ({where})", markup=False)
    if not shown:
        return
    for rid in shown:
        rv = book.get(rid)
        where = {"store": " (marked in the app)", "knowledge": " (reviews.yaml)"}.get(rv.source or "", "")
        out.print(f"{rid} [{kb.rows[rid].version}]: {_review_words(rv)}{where}", markup=False)


@reviews_app.command("export")
def reviews_export(
    db: str = DB,
    output: Path = typer.Option(None, "--output", "-o", help="Write to FILE (default: standard output)"),
    merged: bool = typer.Option(False, "--merged", help="The whole reviews.yaml: the knowledge base's own entries "
                                "followed by the new marks (to replace the file), not only the new marks"),
) -> None:
    """Export the review marks made in the app as a reviews.yaml document, for a knowledge maintainer to merge into
    src/mcrc/knowledge/data/reviews.yaml (marks the file already holds are left out, each mark appears once)."""
    import datetime as dt

    from mcrc.knowledge.reviews import EXPORT_HEADER, dump_reviews, export_entries

    kb, _, marks = _review_book(db, False)
    entries, gone = export_entries(kb.review_book.entries, [m.entry() for m in marks], kb.row_versions(),
                                   merged=merged)
    new = len(entries) - (len(kb.review_book.entries) if merged else 0)
    for m in gone:
        err.print(f"left out: mark of {m.row} by {m.reviewer} on {m.date}: the row is no longer in the knowledge "
                  "base", markup=False)
    what = (f"the knowledge base's {len(kb.review_book.entries)} review(s) and {new} new mark(s)" if merged
            else f"{new} mark(s) not yet in its reviews.yaml")
    how = ("replace src/mcrc/knowledge/data/reviews.yaml with this file (keep its header comment)," if merged
           else "append the entries under `reviews:` to the list in src/mcrc/knowledge/data/reviews.yaml,")
    header = EXPORT_HEADER.format(when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), kb_version=kb.version,
                                  what=what, how=how)
    text = dump_reviews(entries, header)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail(f"{output}: cannot write ({exc.strerror or exc})", EXIT_INPUT)
        err.print(f"{new} new review mark(s) written to {output}", markup=False)


class ReportKind(StrEnum):
    auto = "auto"
    pathology = "pathology"
    radiology = "radiology"
    letter = "letter"


@app.command()
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
        documents.append(_guard(lambda p=path, d=data: extraction.document_from_bytes(
            p.name, d, None if kind is ReportKind.auto else kind.value)))
    draft = _guard(lambda: extraction.extract(documents)).as_dict()
    from mcrc.extract.view import draft_tables

    for part in draft_tables(draft):
        out.print(part)
    if output is not None:
        try:
            output.write_text(json.dumps(draft, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(f"{output}: cannot write ({exc.strerror or exc})", EXIT_INPUT)
        err.print(f"draft written to {output}", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
