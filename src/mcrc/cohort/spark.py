"""Run the audit in a Spark session: the optional extra `mcrc[spark]`.

The concordance table comes from a DataFrame plan built from the same expression trees as the SQL
(`summary_frame`: per layer one `select` of Columns, each `F.expr` of that one column's Spark SQL; no
Python UDF), counted by unnesting the TRUE totals' indices (`mcrc.cohort.sql.counts_query`, decision
record 0055). The per-decision output runs the compiled SQL text. A local session is `local[2]`, UI off,
bound to 127.0.0.1, quiet logs. Spark reads the cohort itself (Parquet); a frame that did not come from
a Parquet file is written once as Parquet first.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from mcrc.cohort.logic import GROUP_KEYS
from mcrc.cohort.plan import Plan
from mcrc.cohort.sql import (
    IDX,
    SOURCE,
    cached_sql,
    counts_grouping,
    counts_parts,
    flag_indices,
    render,
    split_counts,
    summary_names,
    undecided_filter,
)


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing."""


def java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool((home and Path(home, "bin", "java").exists()) or shutil.which("java"))


def configure(builder: Any) -> Any:
    """Settings the audit needs on any cluster (also under spark-submit): UTC dates, no ANSI errors on NULL,
    no constraint propagation (it infers facts from every predicate of the wide projections, for minutes)."""
    return (builder.config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.sql.codegen.wholeStage", "false")
            .config("spark.sql.constraintPropagation.enabled", "false"))


def local_session(app: str = "mcrc-cohort") -> Any:
    """A quiet local Spark session that listens on 127.0.0.1 only."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - the extra is not installed
        raise SparkUnavailable("Spark needs the optional extra: pip install 'mcrc[spark]'") from exc
    if not java_available():
        raise SparkUnavailable("Spark needs Java 17 (java not found; set JAVA_HOME)")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
    spark = (SparkSession.builder.master("local[2]").appName(app)
             .config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.ansi.enabled", "false")
             .config("spark.sql.codegen.wholeStage", "false")
             .config("spark.sql.constraintPropagation.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def summary_frame(source: Any, plan: Plan, grouped: bool = True) -> Any:
    """The count-by-unnest plan (`mcrc.cohort.sql.counts_query`) as DataFrame column expressions over
    `source` (the cohort as read): the layers as one `select` each, the missing-fact layers only over the
    not-decidable decision points, the TRUE totals' indices exploded and counted by one narrow aggregate."""
    from pyspark.sql import functions as F

    def col(e: Any) -> Any:
        return F.expr(render(e, "spark"))

    parts = counts_parts(plan, grouped)
    cut = parts.cut
    inputs = [F.col(c) for c in cut.inputs if c not in ("year", "n")]
    year = F.year(F.col("decision_date")).alias("year")
    df = source.select(*inputs, year)
    if grouped:  # identical decision points counted first, the rules run once per distinct one
        df = df.groupBy(*[c for c in df.columns]).agg(F.count(F.lit(1)).alias("n"))

    def layers(df: Any, start: int, stop: int) -> Any:
        for i in range(start, stop):
            new = {name for name, _ in cut.layers.layers[i]}
            carried = [F.col(c) for c in cut.live[i] if c not in new]
            df = df.select(*carried, *[col(e).alias(name) for name, e in cut.layers.layers[i]])
        return df

    k, n = cut.layers.undecided_from, len(cut.layers.layers)
    main = layers(df, 0, k)
    rest = layers(main.filter(col(undecided_filter())).select(*cut.live[k - 1]), k, n)
    keep = [*GROUP_KEYS, *(["n"] if grouped else [])]
    stream = main.select(*keep, col(flag_indices(parts.terms, True)).alias(IDX)).unionByName(
        rest.select(*keep, col(flag_indices(parts.missing, False)).alias(IDX)))
    grouping = [col(g).alias(name) for name, g in counts_grouping()]
    count = F.sum("n") if grouped else F.count(F.lit(1))
    return stream.groupBy(*grouping, F.col(IDX)).agg(count.cast("bigint").alias("decisions"))


def _to_polars(df: Any) -> pl.DataFrame:
    return pl.from_arrow(df.toArrow())


def run(frame: pl.DataFrame | None, plan: Plan, decisions: bool = True, session: Any = None,
        path: str | Path | None = None, grouped: bool = True) -> tuple[pl.DataFrame | None, pl.DataFrame, pl.DataFrame]:
    """(per-decision results or None, counts by group, totals). Reads `path` when given, else `frame`."""
    spark = session or local_session()
    tmp = None
    try:
        if path is None:
            # Spark reads files; the validated frame is written once as Parquet with plain string columns
            tmp = tempfile.mkdtemp(prefix="mcrc-spark-")
            path = Path(tmp, "cohort.parquet")
            casts = [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if isinstance(t, pl.Enum)]
            frame.with_columns(casts).write_parquet(path)
        source = spark.read.parquet(str(path))
        source.createOrReplaceTempView(SOURCE)
        out = _to_polars(spark.sql(cached_sql(plan, "decisions", "spark", grouped))) if decisions else None
        counts = _to_polars(summary_frame(source, plan, grouped))
        return out, *split_counts(counts, summary_names(plan))
    finally:
        spark.catalog.dropTempView(SOURCE)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
