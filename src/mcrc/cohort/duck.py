"""Run the compiled SQL on embedded DuckDB over an Arrow table (no copy, nothing fetched).

Extension auto-install and auto-load are off, so DuckDB never reaches the network. Two optimizer
passes are switched off: with hundreds of derived columns, DuckDB's common-subexpression pass takes
tens of seconds to plan and the aggregate pushdowns merge the layered projections into one huge
expression; the query is already written with each predicate computed once (see decision 0015).
"""

from __future__ import annotations

import duckdb
import polars as pl

from mcrc.cohort.plan import Plan
from mcrc.cohort.sql import SOURCE, cached_sql, split_summary

DISABLED_OPTIMIZERS = "common_subexpressions,partial_aggregate_pushdown,common_aggregate,statistics_propagation," \
    "reorder_filter"


def connect(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    con.execute(f"SET disabled_optimizers = '{DISABLED_OPTIMIZERS}'")
    return con


def run(df: pl.DataFrame, plan: Plan, decisions: bool = True, grouped: bool = False,
        con: duckdb.DuckDBPyConnection | None = None) -> tuple[pl.DataFrame | None, pl.DataFrame, pl.DataFrame]:
    """(per-decision results or None, counts by group, totals) for a validated cohort frame.

    Groups and totals come from one query (the layers run once). `grouped` first counts identical decision
    points and runs the rules once per distinct one: slower on the benchmark's cohort (two thirds of its 1M
    decision points are distinct once what was done, centre and year are included), so off by default."""
    con = con or connect()
    con.register(SOURCE, df.to_arrow())
    try:
        def q(kind: str) -> pl.DataFrame:
            return pl.from_arrow(con.sql(cached_sql(plan, kind, "duckdb", grouped)).to_arrow_table())

        out = q("decisions") if decisions else None
        return out, *split_summary(q("summary"))
    finally:
        con.unregister(SOURCE)
