"""Spark runs the same compiled SQL (sqlglot's Spark dialect) in a real local session and answers exactly
as DuckDB and as the engine on the same Parquet file. Never skipped in CI; locally only without Java."""

from __future__ import annotations

import os

import polars as pl
import pytest

import mcrc
from mcrc.cohort.audit import run_audit
from mcrc.cohort.spark import java_available
from mcrc.cohort.synth import synth, write
from tests.test_cohort_helpers import assert_matches_engine

KB = mcrc.load_knowledge()

if not java_available() and not os.environ.get("CI"):
    pytest.skip("Spark needs Java 17 (not found on this machine)", allow_module_level=True)


@pytest.fixture(scope="module")
def spark():
    from mcrc.cohort.spark import local_session

    session = local_session("mcrc-cohort-tests")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    path = tmp_path_factory.mktemp("spark") / "cohort.parquet"
    return write(synth(160, seed=21, pool=90, kb=KB), path)


def test_spark_equals_duckdb_and_engine(spark, cohort):
    on_spark = run_audit(cohort, "spark", kb=KB, spark=spark)
    on_duckdb = run_audit(cohort, "duckdb", kb=KB)
    assert on_spark.decisions.height == 160
    assert on_spark.decisions.equals(on_duckdb.decisions)
    assert on_spark.concordance.equals(on_duckdb.concordance)
    frame = pl.read_parquet(cohort)
    assert assert_matches_engine(KB, frame, on_spark.decisions) > 100
    statuses = set(on_spark.decisions.get_column("status"))
    assert {"concordant", "discordant"} <= statuses


def _spark_submit():
    import pyspark

    path = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    return path if os.path.exists(path) else None


def test_spark_submit_local_gives_the_polars_table(cohort, tmp_path):
    """The cluster path: `spark-submit --master local[2]` runs the driver module on the source tree and
    writes the same concordance table as Polars on the same file."""
    import subprocess
    import sys

    import mcrc.cohort.submit as submit

    submit_bin = _spark_submit()
    if submit_bin is None:
        pytest.skip("pyspark ships no bin/spark-submit in this installation")
    src = os.path.dirname(os.path.dirname(mcrc.__file__))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "PYTHONPATH": src, "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.run([submit_bin, "--master", "local[2]", "--conf", "spark.ui.enabled=false",
                           "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                           submit.__file__, str(cohort), str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = pl.read_csv(tmp_path / "out" / "concordance.csv",
                      schema_overrides={"key": pl.String, "table": pl.String})
    want = run_audit(cohort, "polars", kb=KB, decisions=False).concordance
    assert got.height == want.height > 100
    assert got.equals(pl.read_csv(_csv(want, tmp_path), schema_overrides={"key": pl.String, "table": pl.String}))


def _csv(frame, tmp_path):
    path = tmp_path / "want.csv"
    frame.write_csv(path)
    return path
