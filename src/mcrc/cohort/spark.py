"""Run the same compiled SQL (sqlglot's Spark dialect) in a Spark session: the optional extra `mcrc[spark]`.

A local session is `local[2]`, UI off, bound to 127.0.0.1, quiet logs. Spark reads the cohort
itself (Parquet); a frame that did not come from a Parquet file is handed over as Arrow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from mcrc.cohort.plan import Plan
from mcrc.cohort.sql import SOURCE, cached_sql, split_summary


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
        spark.read.parquet(str(path)).createOrReplaceTempView(SOURCE)

        def q(kind: str) -> pl.DataFrame:
            return _to_polars(spark.sql(cached_sql(plan, kind, "spark", grouped)))

        out = q("decisions") if decisions else None
        return out, *split_summary(q("summary"))
    finally:
        spark.catalog.dropTempView(SOURCE)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
