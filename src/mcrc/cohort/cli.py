"""`mcrc cohort ...`: audit a cohort file, generate a synthetic one, show its schema or the compiled SQL.

Exit codes as in `mcrc`: 2 bad input (file, column, value; an engine that is not available),
3 knowledge base, 4 engine error. No command prints a traceback.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import polars as pl
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from mcrc.cohort.logic import STATUSES
from mcrc.console import EXIT_ENGINE, EXIT_INPUT, EXIT_KNOWLEDGE, err, out
from mcrc.console import fail as _fail
from mcrc.errors import EngineError, KnowledgeError, McrcError

cohort_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Cohort audits: the rules over a table of decision points (DuckDB, Polars, Spark).")


class Engine(StrEnum):
    polars = "polars"
    duckdb = "duckdb"
    spark = "spark"


class OutFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


class Dialect(StrEnum):
    duckdb = "duckdb"
    spark = "spark"
    postgres = "postgres"


class Query(StrEnum):
    decisions = "decisions"
    summary = "summary"
    counts = "counts"
    groups = "groups"
    totals = "totals"


def _exit_code(exc: McrcError) -> int:
    if isinstance(exc, KnowledgeError):
        return EXIT_KNOWLEDGE
    if isinstance(exc, EngineError):
        return EXIT_ENGINE
    return EXIT_INPUT


def _write(df: pl.DataFrame, path: Path, fmt: OutFormat) -> Path:
    target = path.with_suffix(f".{fmt.value}")
    if fmt is OutFormat.csv:
        df.write_csv(target)
    else:
        df.write_parquet(target)
    return target


def _summary(table: pl.DataFrame, engine: str, seconds: float) -> None:
    overall = table.filter(pl.col("dimension") == "all").row(0, named=True) if table.height else None
    t = Table(title=f"Concordance ({engine}, {seconds:.2f} s)")
    t.add_column("by")
    t.add_column("key")
    t.add_column("decisions", justify="right")
    for s in STATUSES:
        t.add_column(s.replace("_", " "), justify="right")
    shown = table.filter(pl.col("dimension").is_in(["all", "site", "year", "centre", "table"]))
    for r in shown.iter_rows(named=True):
        total = r["decisions"] or 0
        cells = [f"{r[s]} ({100 * r[s] / total:.0f}%)" if r[s] is not None and total else "" for s in STATUSES]
        t.add_row(r["dimension"], r["key"], str(total), *cells)
    out.print(t)
    if overall is not None:
        missing = table.filter(pl.col("dimension") == "missing").sort("not_decidable", descending=True).head(8)
        if missing.height:
            out.print("Most frequent missing facts behind not-decidable decision points: "
                      + ", ".join(f"{k} ({v})" for k, v in missing.select("key", "not_decidable").iter_rows()))


@cohort_app.command("audit")
def audit(file: Path = typer.Argument(..., help="Cohort file (.parquet or .csv); `mcrc cohort schema` for columns"),
          engine: Engine = typer.Option(Engine.polars, "--engine", "-e",
                                        help="polars (fastest), duckdb (the compiled SQL, embedded) or spark"),
          out_dir: Path = typer.Option(Path("cohort-audit"), "--out", "-o", help="Directory for results and plots"),
          fmt: OutFormat = typer.Option(OutFormat.parquet, "--format", help="Format of the result tables"),
          decisions: bool = typer.Option(True, "--decisions/--no-decisions",
                                         help="Write the per-decision-point results too"),
          plots: bool = typer.Option(True, "--plots/--no-plots", help="Write the PNG and SVG plots"),
          evidence: bool = typer.Option(True, "--evidence/--no-evidence",
                                        help="Include newer-evidence tables")) -> None:
    """Audit a cohort: rows fired and recommended codes per decision point, and the concordance table."""
    from mcrc.cohort.audit import run_audit
    from mcrc.cohort.schema import CohortError

    spark = None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as progress:
        task = progress.add_task(f"auditing {file.name} on {engine.value}", total=3)
        try:
            if engine is Engine.spark:
                from mcrc.cohort.spark import SparkUnavailable, local_session

                try:
                    spark = local_session()
                except SparkUnavailable as exc:
                    _fail(str(exc), EXIT_INPUT)
            result = run_audit(file, engine.value, show_evidence=evidence, decisions=decisions, spark=spark)
        except CohortError as exc:
            progress.stop()
            _fail(str(exc), EXIT_INPUT)
        except McrcError as exc:
            progress.stop()
            _fail(str(exc), _exit_code(exc))
        finally:
            if spark is not None:
                spark.stop()
        progress.update(task, advance=1, description="writing results")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = [_write(result.concordance, out_dir / "concordance", fmt)]
        if result.decisions is not None:
            written.append(_write(result.decisions, out_dir / "decisions", fmt))
        progress.update(task, advance=1, description="drawing plots")
        if plots:
            from mcrc.cohort.plots import write_plots

            written += write_plots(result.concordance, out_dir)
        progress.update(task, advance=1)
    _summary(result.concordance, engine.value, result.timings["total"])
    out.print("written: " + ", ".join(str(p) for p in written))


@cohort_app.command("synth")
def synth_cmd(n: int = typer.Argument(..., min=1, help="Number of decision points"),
              out_file: Path = typer.Option(Path("cohort.parquet"), "--out", "-o", help=".parquet or .csv"),
              seed: int = typer.Option(0, "--seed"),
              pool: int | None = typer.Option(None, "--pool", min=1,
                                              help="Distinct patients to draw from (default: min(N, 20000))")) -> None:
    """Write a synthetic cohort of N plausible decision points (some unknowns, some deviations)."""
    from mcrc.cohort.synth import synth, write

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True) as progress:
        progress.add_task(f"drawing {n} decision points", total=None)
        df = synth(n, seed=seed, pool=pool)
        path = write(df, out_file)
    out.print(f"wrote {df.height} decision points ({df.get_column('patient_id').n_unique()} distinct patients) "
              f"to {path}")


@cohort_app.command("schema")
def schema_cmd() -> None:
    """JSON Schema of one decision point (one row of a cohort file)."""
    from mcrc.cohort.schema import json_schema

    out.print(json.dumps(json_schema(), indent=2), markup=False)


@cohort_app.command("sql")
def sql_cmd(dialect: Dialect = typer.Option(Dialect.duckdb, "--dialect", "-d"),
            query: Query = typer.Option(Query.decisions, "--query", "-q"),
            evidence: bool = typer.Option(True, "--evidence/--no-evidence")) -> None:
    """Print the SQL the knowledge base compiles to (reads a table or view named `cohort`)."""
    from mcrc.cohort.plan import build_plan
    from mcrc.cohort.sql import cached_sql
    from mcrc.knowledge import load_knowledge

    try:
        plan = build_plan(load_knowledge(), evidence)
    except KnowledgeError as exc:
        _fail(str(exc), EXIT_KNOWLEDGE)
    out.print(cached_sql(plan, query.value, dialect.value, pretty=True), markup=False)
