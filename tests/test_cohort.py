"""Cohort audit: schema and readers (clear errors), compiled SQL (golden per dialect, PostgreSQL too),
concordance semantics on hand-made decision points, synthetic cohorts, CLI with outputs and plots."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import mcrc
from mcrc.cli import app
from mcrc.cohort.audit import run_audit, vocabulary_codes
from mcrc.cohort.plan import build_plan
from mcrc.cohort.schema import COLUMNS, CohortError, json_schema, read_cohort
from mcrc.cohort.sql import DIALECTS, cached_sql
from mcrc.cohort.synth import synth, write
from mcrc.facts.catalog import FACTS
from mcrc.knowledge.expr import And, Cmp, Eq, In, Known, Not, Or
from mcrc.knowledge.model import KnowledgeBase, OutItem, Row, Table
from tests.test_cohort_helpers import raw_rows

KB = mcrc.load_knowledge()
VOCAB = vocabulary_codes(KB)
GOLDEN = Path(__file__).parent / "golden" / "sql"
runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return write(synth(300, seed=5, pool=120, kb=KB), tmp_path_factory.mktemp("cohort") / "small.parquet")


# --- schema and readers -------------------------------------------------------------------------

def test_schema_has_one_typed_column_per_fact():
    schema = json_schema()
    assert set(FACTS) <= set(schema["properties"])
    assert schema["properties"]["sidedness"]["anyOf"][0]["enum"] == ["right", "left"]
    assert schema["properties"]["ecog"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 4}
    assert {"type": "null"} in schema["properties"]["ecog"]["anyOf"]
    assert "decision_id" in schema["required"] and "done_action" in schema["required"]


def test_missing_column_is_named(tmp_path):
    p = tmp_path / "c.parquet"
    raw_rows(4, 1, 0.1).drop("sidedness", "ecog").write_parquet(p)
    with pytest.raises(CohortError) as info:
        read_cohort(p, VOCAB)
    assert "missing required column(s): ecog, sidedness" in str(info.value) or \
        "missing required column(s): sidedness, ecog" in str(info.value)


def test_mistyped_and_out_of_domain_columns_name_rows(tmp_path):
    p = tmp_path / "c.parquet"
    frame = raw_rows(8, 2, 0.0).with_columns(pl.col("lung_mets").cast(pl.String),
                                             pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("middle_left"))
                                             .otherwise(pl.col("sidedness").cast(pl.String)).alias("sidedness"),
                                             pl.when(pl.int_range(pl.len()).is_in([1, 6])).then(9)
                                             .otherwise(pl.col("ecog")).alias("ecog"))
    frame.write_parquet(p)
    with pytest.raises(CohortError) as info:
        read_cohort(p, VOCAB)
    text = str(info.value)
    assert "column lung_mets: has type String, expected boolean" in text
    assert "column sidedness: rows 4: value(s) 'middle_left' out of domain (allowed: right, left)" in text
    assert "column ecog: rows 2, 7: value(s) 9 out of domain (allowed: 0..4)" in text


def test_unknown_done_code_and_duplicate_ids(tmp_path):
    p = tmp_path / "c.parquet"
    frame = raw_rows(3, 3, 0.2).with_columns(pl.Series("done_regimen", [None, "FOLFOX", "FOLFOXX"]))
    frame.write_parquet(p)
    with pytest.raises(CohortError, match=r"column done_regimen: rows 3: value\(s\) 'FOLFOXX'"):
        read_cohort(p, VOCAB)
    frame.with_columns(pl.lit("same").alias("decision_id"), pl.lit(None, pl.String).alias("done_regimen")) \
        .write_parquet(p)
    with pytest.raises(CohortError, match="rows 1, 2, 3: duplicate identifier"):
        read_cohort(p, VOCAB)


def test_control_characters_in_identifiers_name_column_and_rows(tmp_path):
    """Issue 15: the strict reader's rule for text holds in cohort files too (a NUL would break PostgreSQL)."""
    p = tmp_path / "c.parquet"
    frame = raw_rows(4, 4, 0.0)
    ids = frame.get_column("decision_id").to_list()
    ids[2] = "dp\x00-3"
    frame.with_columns(pl.Series("decision_id", ids)).write_parquet(p)
    with pytest.raises(CohortError, match=r"column decision_id: rows 3: value\(s\) 'dp\\x00-3' out of domain "
                                          r"\(allowed: text without control characters"):
        read_cohort(p, VOCAB)


def test_csv_bad_cell_names_column_and_row(tmp_path, small):
    frame = pl.read_parquet(small).head(5)
    p = tmp_path / "c.csv"
    frame.write_csv(p)
    lines = p.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index("age")] = "sixty"
    lines[3] = ",".join(cells)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(CohortError, match=r"column age: rows 3: 'sixty' is not a integer"):
        read_cohort(p, VOCAB)


def test_csv_and_parquet_give_the_same_audit(tmp_path, small):
    csv = tmp_path / "small.csv"
    pl.read_parquet(small).write_csv(csv)
    a = run_audit(small, "polars", kb=KB)
    b = run_audit(csv, "polars", kb=KB)
    assert a.decisions.equals(b.decisions) and a.concordance.equals(b.concordance)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(CohortError, match="no such file"):
        read_cohort(tmp_path / "nope.parquet")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(CohortError, match="unknown file type"):
        read_cohort(tmp_path / "x.json")


# --- compiled SQL -----------------------------------------------------------------------------------

def _mini_kb() -> KnowledgeBase:
    """Two tables that use every node of the condition tree, a default row and a unique hit policy."""
    def row(rid, table, when, default=False, regimens=(), local=()):
        outputs = {}
        if regimens:
            outputs["regimens"] = tuple(OutItem(code=r) for r in regimens)
        if local:
            outputs["local"] = tuple(OutItem(code=a) for a in local)
        return Row(id=rid, table_id=table, title=rid, when=when, default=default, citations=(), note=None,
                   strategies=(), outputs=outputs)

    t1 = Table(id="mini.route", title="route", source="mini", hit="unique", file="mini.yaml",
               applies=And((Eq("metastatic", True), Not(Eq("ned", True)))),
               rows=(row("mini.route.resect", "mini.route",
                         And((Eq("liver_resectability", "resectable"), Cmp("ecog", "le", 1))),
                         local=("resect_liver_metastases",)),
                     row("mini.route.convert", "mini.route",
                         Or((In("liver_resectability", ("potentially_resectable", "unresectable")),
                             Cmp("liver_met_count", "gt", 4))), regimens=("FOLFOXIRI",)),
                     row("mini.route.mdt", "mini.route", And(()), default=True, local=("mdt_discussion",))))
    t2 = Table(id="mini.biology", title="biology", source="mini", hit="collect", file="mini.yaml", applies=And(()),
               rows=(row("mini.biology.egfr", "mini.biology",
                         And((Eq("ras", "wild_type"), Eq("sidedness", "left"), Known("braf", True))),
                         regimens=("FOLFOX_PANITUMUMAB",)),
                     row("mini.biology.test", "mini.biology", Known("ras", False))))
    return KnowledgeBase(version="mini-1", tables=(t1, t2), vocabulary=KB.vocabulary, definitions=KB.definitions,
                         sources={}, invariants=())


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("kind", ["decisions", "summary", "counts", "groups", "totals"])
def test_golden_sql(dialect, kind):
    """The canonical query, transpiled per dialect, is stable (regenerate: MCRC_UPDATE_GOLDEN_SQL=1)."""
    sql = cached_sql(build_plan(_mini_kb()), kind, dialect, pretty=True) + "\n"
    path = GOLDEN / f"{kind}.{dialect}.sql"
    if os.environ.get("MCRC_UPDATE_GOLDEN_SQL"):
        path.write_text(sql)
    assert sql == path.read_text()


def test_sql_is_built_from_the_tree_with_kleene_nulls():
    sql = cached_sql(build_plan(_mini_kb()), "decisions", "duckdb")
    assert '"liver_resectability" IN (\'potentially_resectable\', \'unresectable\')' in sql
    assert '"ecog" <= 1' in sql and 'NOT "braf" IS NULL' in sql
    spark = cached_sql(build_plan(_mini_kb()), "decisions", "spark")
    assert "`liver_met_count` > 4" in spark and "CONCAT_WS(','" in spark


def test_mini_kb_semantics_on_duckdb_and_polars():
    """Hand-made decision points with the answers worked out by hand from the two mini tables."""
    from mcrc.cohort import duck, fast
    from mcrc.cohort.audit import normalise
    from mcrc.cohort.schema import validate

    plan = build_plan(_mini_kb())
    base = raw_rows(5, 0, 1.0)  # everything unknown
    points = [
        # 0: resectable, ECOG 0, RAS wt left BRAF known: resect fires; the liver resection was done
        dict(metastatic=True, ned=False, liver_resectability="resectable", ecog=0, ras="wild_type",
             sidedness="left", braf="wild_type", done_action="resect_liver_metastases"),
        # 1: unresectable: convert fires; FOLFOX_PANITUMUMAB given but sidedness unknown -> egfr possible
        dict(metastatic=True, ned=False, liver_resectability="unresectable", ras="wild_type", braf="wild_type",
             done_regimen="FOLFOX_PANITUMUMAB"),
        # 2: scope unknown (ned unknown): no route row fires, the default may; MDT done -> not decidable
        dict(metastatic=True, liver_resectability="resectable", ecog=0, ras="mutant", done_action="mdt_discussion"),
        # 3: resectable but ECOG 3: the default fires; resection done -> discordant
        dict(metastatic=True, ned=False, liver_resectability="resectable", ecog=3, liver_met_count=1,
             ras="mutant", done_action="resect_liver_metastases"),
        # 4: not metastatic: the route table does not apply; RAS known mutant: nothing recommended
        dict(metastatic=False, ras="mutant", done_action="resect_liver_metastases"),
    ]
    rows = [{**r, **p} for r, p in zip(base.iter_rows(named=True), points, strict=True)]
    frame = pl.DataFrame(rows, schema=base.schema, orient="row")
    frame = validate(frame, "<mini>", VOCAB)
    for out in (normalise(fast.decisions(frame, plan)), normalise(duck.run(frame, plan)[0])):
        got = {r["decision_id"]: r for r in out.iter_rows(named=True)}
        ids = frame.get_column("decision_id").to_list()
        r0, r1, r2, r3, r4 = (got[i] for i in ids)
        assert (r0["fired_rows"], r0["status"]) == ("mini.route.resect,mini.biology.egfr", "concordant")
        assert r0["recommended"] == "FOLFOX_PANITUMUMAB,resect_liver_metastases"
        assert r1["fired_rows"] == "mini.route.convert" and r1["possible_rows"] == "mini.biology.egfr"
        assert (r1["status"], r1["missing"]) == ("not_decidable", "sidedness")
        assert r2["fired_rows"] == "" and r2["possible_rows"] == "mini.route.resect,mini.route.convert"
        assert (r2["status"], r2["missing"]) == ("not_decidable", "ned")
        assert (r3["fired_rows"], r3["status"]) == ("mini.route.mdt", "discordant")
        assert (r4["fired_rows"], r4["status"]) == ("", "not_covered")


def test_postgres_runs_the_same_sql():
    """PostgreSQL executes the transpiled query with the same answers (when a test database is configured)."""
    url = os.environ.get("MCRC_TEST_POSTGRES")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("MCRC_TEST_POSTGRES must be set in CI")
        pytest.skip("MCRC_TEST_POSTGRES not set")
    import sqlalchemy as sa

    from mcrc.cohort import fast
    from mcrc.cohort.audit import normalise
    from mcrc.cohort.schema import validate

    plan = build_plan(_mini_kb())
    frame = validate(raw_rows(40, 9, 0.3).with_columns(
        pl.lit(dt.date(2024, 5, 1)).alias("decision_date"),
        pl.Series("done_regimen", ["FOLFOXIRI", None, "FOLFOX_PANITUMUMAB", "FOLFOX"] * 10)), "<pg>", VOCAB)
    cols = [c.name for c in COLUMNS]
    engine = sa.create_engine(url)
    ddl = {"string": "text", "boolean": "boolean", "integer": "bigint", "number": "double precision", "date": "date"}
    with engine.begin() as con:
        con.exec_driver_sql("DROP TABLE IF EXISTS cohort")
        columns = ", ".join(f'"{c.name}" {ddl[c.type]}' for c in COLUMNS)
        con.exec_driver_sql(f"CREATE TEMP TABLE cohort ({columns})")
        rows = frame.with_columns([pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                                   if isinstance(t, pl.Enum)]).select(cols).rows()
        placeholders = ", ".join(f":p{i}" for i in range(len(cols)))
        con.execute(sa.text(f"INSERT INTO cohort VALUES ({placeholders})"),
                    [{f"p{i}": v for i, v in enumerate(r)} for r in rows])
        result = con.exec_driver_sql(cached_sql(plan, "decisions", "postgres"))
        got = pl.DataFrame([dict(r._mapping) for r in result])
    got = got.with_columns(pl.col("year").cast(pl.Int64)).sort("decision_id")
    want = normalise(fast.decisions(frame, plan))
    for c in ("fired_rows", "possible_rows", "recommended", "missing", "status"):
        assert got.get_column(c).to_list() == want.get_column(c).to_list(), c


# --- synthetic cohorts ------------------------------------------------------------------------------

def test_synth_is_valid_plausible_and_reproducible(small):
    frame = read_cohort(small, VOCAB)
    assert frame.height == 300
    again = synth(300, seed=5, pool=120, kb=KB)
    assert again.equals(pl.read_parquet(small))
    assert frame.get_column("age").null_count() > 0  # some unknowns
    assert 0.05 < frame.get_column("done_action").null_count() / 300 < 0.9
    share_rectum = (frame.get_column("primary_site") == "rectum").mean()
    assert 0.15 < share_rectum < 0.5
    out = run_audit(small, "polars", kb=KB)
    counts = dict(out.decisions.get_column("status").value_counts().iter_rows())
    assert counts.get("concordant", 0) > counts.get("discordant", 0) > 0  # mostly followed, some deviations


# --- CLI --------------------------------------------------------------------------------------------

def test_cli_audit_writes_tables_and_plots(tmp_path, small):
    out = tmp_path / "audit"
    result = runner.invoke(app, ["cohort", "audit", str(small), "--out", str(out), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "Concordance (polars" in result.output
    concordance = pl.read_csv(out / "concordance.csv")
    assert set(concordance.get_column("dimension")) >= {"all", "site", "year", "centre", "table", "row"}
    assert concordance.filter(pl.col("dimension") == "all").get_column("decisions").item() == 300
    decisions = pl.read_csv(out / "decisions.csv")
    assert decisions.height == 300 and "recommended" in decisions.columns
    for stem in ("concordance_by_row", "concordance_over_time"):
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "<svg" in (out / f"{stem}.svg").read_text()[:500]


def test_cli_audit_duckdb_equals_polars(tmp_path, small):
    a = runner.invoke(app, ["cohort", "audit", str(small), "-o", str(tmp_path / "a"), "--no-plots"])
    b = runner.invoke(app, ["cohort", "audit", str(small), "-o", str(tmp_path / "b"), "--no-plots", "-e", "duckdb"])
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    for name in ("concordance.parquet", "decisions.parquet"):
        assert pl.read_parquet(tmp_path / "a" / name).equals(pl.read_parquet(tmp_path / "b" / name))


def test_cli_bad_file_exits_2_without_traceback(tmp_path):
    p = tmp_path / "bad.parquet"
    raw_rows(3, 1, 0.0).drop("lung_mets").write_parquet(p)
    result = runner.invoke(app, ["cohort", "audit", str(p), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "missing required column(s): lung_mets" in result.output
    assert "Traceback" not in result.output


def test_cli_synth_schema_and_sql(tmp_path):
    target = tmp_path / "s.csv"
    result = runner.invoke(app, ["cohort", "synth", "40", "--out", str(target), "--pool", "10", "--seed", "2"])
    assert result.exit_code == 0, result.output
    assert read_cohort(target, VOCAB).height == 40
    schema = runner.invoke(app, ["cohort", "schema"])
    assert json.loads(schema.output)["title"] == "mcrc cohort decision point"
    sql = runner.invoke(app, ["cohort", "sql", "--dialect", "spark", "--query", "groups"])
    assert sql.exit_code == 0 and "GROUP BY" in sql.output and "`site`" in sql.output
    counts = runner.invoke(app, ["cohort", "sql", "--dialect", "spark", "--query", "counts"])
    assert counts.exit_code == 0 and "EXPLODE(" in counts.output and "WHERE" in counts.output
