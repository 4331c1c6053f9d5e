"""Run an audit on one backend and assemble the concordance table (the same for every backend)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from mcrc.cohort.logic import STATUSES
from mcrc.cohort.plan import Plan, build_plan
from mcrc.cohort.schema import read_cohort
from mcrc.knowledge import KnowledgeBase, load_knowledge

ENGINES = ("polars", "duckdb", "spark")
CONCORDANCE_COLUMNS = ("dimension", "key", "table", "decisions", "concordant", "discordant", "not_decidable",
                       "not_covered", "fired", "possible")


@dataclass
class AuditResult:
    engine: str
    decisions: pl.DataFrame | None
    concordance: pl.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


def vocabulary_codes(kb: KnowledgeBase) -> dict[str, set[str]]:
    return {section: set(terms) for section, terms in kb.vocabulary.terms.items()}


def concordance_table(plan: Plan, groups: pl.DataFrame, totals: pl.DataFrame) -> pl.DataFrame:
    """Long table: one line per (dimension, key); dimensions all, site, year, centre, table, row, missing."""
    label = {i: s for i, s in enumerate(STATUSES, start=1)}
    g = groups.with_columns(pl.col("status").replace_strict(label, return_dtype=pl.String),
                            pl.col("year").cast(pl.String), pl.col("decisions").cast(pl.Int64))
    lines: list[dict] = []

    def by(dim: str, key_col: str | None) -> None:
        keys = [key_col] if key_col else []
        piv = g.group_by([*keys, "status"]).agg(pl.col("decisions").sum())
        values: dict[str, dict[str, int]] = {}
        for rec in piv.iter_rows(named=True):
            k = "all" if key_col is None else (rec[key_col] if rec[key_col] is not None else "(not recorded)")
            values.setdefault(k, {})[rec["status"]] = rec["decisions"]
        for k in sorted(values):
            v = values[k]
            lines.append({"dimension": dim, "key": k, "decisions": sum(v.values()),
                          **{s: v.get(s, 0) for s in STATUSES}})

    by("all", None)
    for dim in ("site", "year", "centre"):
        by(dim, dim)
    t = totals.row(0, named=True) if totals.height else {}
    for table in plan.tables:
        if table.treats:
            v = {s: int(t.get(f"table|{table.id}|{s}") or 0) for s in STATUSES[:3]}
            lines.append({"dimension": "table", "key": table.id, "table": table.id, "decisions": sum(v.values()), **v})
    for table in plan.tables:
        for r in table.rows:
            get = lambda what, r=r: int(t.get(f"row|{r.id}|{what}") or 0)  # noqa: E731
            line = {"dimension": "row", "key": r.id, "table": table.id, "fired": get("fired"),
                    "possible": None if r.default else get("possible")}
            if r.treats:
                line.update(decisions=get("fired"), concordant=get("followed"), discordant=get("departed"),
                            not_decidable=get("undecided"))
            lines.append(line)
    for name, value in t.items():
        if name.startswith("missing|") and value:
            fact = name.split("|", 1)[1]
            lines.append({"dimension": "missing", "key": "done_action/done_regimen" if fact == "done" else fact,
                          "not_decidable": int(value)})
    schema = {c: pl.String if c in ("dimension", "key", "table") else pl.Int64 for c in CONCORDANCE_COLUMNS}
    return pl.DataFrame(lines, schema=schema)


def run_audit(source: str | Path | pl.DataFrame, engine: str = "polars", kb: KnowledgeBase | None = None,
              show_evidence: bool = True, decisions: bool = True, spark=None) -> AuditResult:
    """Read and validate the cohort, evaluate it on `engine`, and build the concordance table."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r} (one of {', '.join(ENGINES)})")
    kb = kb or load_knowledge()
    plan = build_plan(kb, show_evidence)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if isinstance(source, pl.DataFrame):
        from mcrc.cohort.schema import validate

        df = validate(source, "<frame>", vocabulary_codes(kb))
    else:
        from mcrc.cohort.fast import summary_columns

        # without per-decision output only the columns the concordance needs are read (schema still checked)
        needed = None if decisions or engine == "spark" else summary_columns(plan)
        df = read_cohort(source, vocabulary_codes(kb), columns=needed)
    timings["read"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if engine == "polars":
        from mcrc.cohort import fast

        if decisions:
            out, groups, totals = fast.audit(df, plan)
        else:
            out, (groups, totals) = None, fast.summary(df, plan)
    elif engine == "duckdb":
        from mcrc.cohort import duck

        out, groups, totals = duck.run(df, plan, decisions=decisions)
    else:
        from mcrc.cohort import spark as spark_backend

        # Spark reads a validated Parquet file itself; anything else is handed over through a temporary file
        parquet = None if isinstance(source, pl.DataFrame) or Path(source).suffix.lower() not in (".parquet", ".pq") \
            else source
        if parquet is not None:
            from mcrc.cohort.schema import has_every_column

            parquet = parquet if has_every_column(parquet) else None  # optional columns absent: hand the frame over
        out, groups, totals = spark_backend.run(None if parquet else df, plan, decisions=decisions, session=spark,
                                                path=parquet)
    timings["evaluate"] = time.perf_counter() - t1
    table = concordance_table(plan, groups, totals)
    timings["total"] = time.perf_counter() - t0
    if out is not None:
        out = normalise(out)
    return AuditResult(engine=engine, decisions=out, concordance=table, timings=timings)


def normalise(out: pl.DataFrame) -> pl.DataFrame:
    """Same column types whatever the backend (enums and dictionaries become plain strings)."""
    casts = [pl.col(c).cast(pl.String) for c, dt in out.schema.items() if c != "year" and dt != pl.String]
    return out.with_columns(*casts, pl.col("year").cast(pl.Int64)).sort("decision_id")
