"""What the engine says for one fact row, in the shape of the cohort outputs (shared by the cohort tests)."""

from __future__ import annotations

import random
from typing import Any

import polars as pl

import mcrc
from mcrc.cohort.reference import reference
from mcrc.cohort.schema import COLUMNS, DECISION_ID, DONE_ACTION, DONE_REGIMEN, polars_schema
from mcrc.engine import evaluate_rows
from mcrc.errors import HitPolicyViolation
from mcrc.facts.catalog import FACTS
from mcrc.facts.model import Facts
from mcrc.logic import Tri


def engine_view(kb, values: dict[str, Any], show_evidence: bool = True) -> dict[str, Any]:
    """Rows fired and possible, recommended codes (from mcrc.assess_facts), or the hit-policy violation."""
    facts = Facts(values=values)
    try:
        evaluated = evaluate_rows(kb, facts, show_evidence)
    except HitPolicyViolation as exc:
        return {"hit": exc.table_id}
    fired = {rr.row.id for _, _, results in evaluated for rr in results or () if rr.result is Tri.TRUE}
    possible = {rr.row.id for _, _, results in evaluated for rr in results or () if rr.result is Tri.UNKNOWN}
    try:
        codes = mcrc.assess_facts(facts, kb, show_evidence=show_evidence).codes()
    except mcrc.SafetyViolation:
        codes = None  # the engine refuses to answer; row results are still compared
    return {"hit": None, "fired": fired, "possible": possible, "codes": codes}


def split(text: str | None) -> set[str]:
    return set(text.split(",")) if text else set()


def assert_matches_engine(kb, frame: pl.DataFrame, decisions: pl.DataFrame, show_evidence: bool = True) -> int:
    """Every decision point's rows fired/possible and recommended codes equal the engine's; returns rows compared."""
    by_id = {r[DECISION_ID]: r for r in decisions.iter_rows(named=True)}
    compared = 0
    for row in frame.iter_rows(named=True):
        values = {f: row[f] for f in FACTS}
        want = engine_view(kb, values, show_evidence)
        got = by_id[row[DECISION_ID]]
        if want["hit"] is not None:
            assert want["hit"] in split(got["hit_violations"]), (row[DECISION_ID], want["hit"])
            continue
        assert split(got["fired_rows"]) == want["fired"], row[DECISION_ID]
        assert split(got["possible_rows"]) == want["possible"], row[DECISION_ID]
        assert got["hit_violations"] == ""
        if want["codes"] is not None:
            assert split(got["recommended"]) == want["codes"], row[DECISION_ID]
        compared += 1
    return compared


def raw_rows(n: int, seed: int, p_unknown: float) -> pl.DataFrame:
    """Fact rows drawn column by column from each fact's domain (combinations no patient may produce
    included), with `p_unknown` unknowns, and random things done: stresses every branch of the rules."""
    rng = random.Random(seed)
    rows = []
    for k in range(n):
        values: dict[str, Any] = {}
        for name, spec in FACTS.items():
            if rng.random() < p_unknown:
                values[name] = None
            elif spec.kind == "enum":
                values[name] = rng.choice(spec.values)
            elif spec.kind == "bool":
                values[name] = rng.random() < 0.5
            else:
                edge = [spec.low, spec.high, 0, 1, 2, 3, 4, 5, 10, 12, 20, 24, 30, 65, 70, 75]
                v = rng.choice([x for x in edge if spec.low <= x <= spec.high])
                values[name] = int(v) if spec.kind == "int" else float(v)
        rows.append({DECISION_ID: f"R{k:05d}", "patient_id": f"P{k % 7}", "centre": rng.choice(["A", "B", None]),
                     "decision_date": None, DONE_ACTION: None, DONE_REGIMEN: None, **values})
    schema = {c.name: polars_schema()[c.name] for c in COLUMNS}
    return pl.DataFrame(rows, schema=schema, orient="row")



def expected_status(kb, plan, values: dict[str, Any], action: str | None, regimen: str | None,
                    show_evidence: bool = True) -> tuple[str, set[str]] | None:
    """The concordance rule from the engine's own row results (mcrc.cohort.reference)."""
    ref = reference(kb, plan, values, action, regimen, show_evidence)
    return None if ref.hit else (ref.status, set(ref.missing))
