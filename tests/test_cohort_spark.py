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
