"""The cohort audit: the knowledge base compiled to Polars, SQL (DuckDB, Spark) and checked against the engine."""
