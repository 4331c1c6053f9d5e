"""The flat cohort schema: one row per decision point, one typed column per fact (NULL = unknown),
plus identifiers and what was actually done. Readers for Parquet and CSV check every column and
name the column and rows of each problem; nothing is coerced into a convenient value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from mcrc.errors import McrcError, Problem
from mcrc.facts.catalog import FACTS, FactSpec

DECISION_ID = "decision_id"
DONE_ACTION = "done_action"
DONE_REGIMEN = "done_regimen"
SHOWN_ROWS = 5


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string, boolean, integer, number, date
    doc: str
    required: bool = True
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    vocabulary: str | None = None  # vocabulary section the codes come from


META: tuple[Column, ...] = (
    Column(DECISION_ID, "string", "Identifier of the decision point (unique in the file)"),
    Column("patient_id", "string", "Identifier of the patient (several decision points may share one)", False),
    Column("centre", "string", "Treating centre", False),
    Column("decision_date", "date", "Date of the decision (its year is the audit's year)", False),
    Column(DONE_ACTION, "string", "What was actually done: an action code (mcrc vocab actions); NULL = not recorded",
           vocabulary="actions"),
    Column(DONE_REGIMEN, "string", "Systemic regimen actually given: a regimen code (mcrc vocab regimens); "
           "NULL = none recorded", vocabulary="regimens"),
)

_TYPE = {"enum": "string", "bool": "boolean", "int": "integer", "number": "number"}


# Fact columns added after cohort files were first written (decision record 0036): optional, so that older files
# still validate; an absent column is read as unknown (NULL) for every row, and the rules that read these facts
# treat unknown as "not recorded".
OPTIONAL_FACTS = frozenset({
    "lung_lesions_resectable", "liver_lesions_resectable", "liver_bilobar", "liver_disappeared_count",
    "liver_complete_response", "lung_complete_response", "all_sites_complete_response",
})


def fact_column(spec: FactSpec) -> Column:
    return Column(spec.name, _TYPE[spec.kind], spec.doc, spec.name not in OPTIONAL_FACTS, spec.values, spec.low,
                  spec.high)


COLUMNS: tuple[Column, ...] = META + tuple(fact_column(s) for s in FACTS.values())
BY_NAME = {c.name: c for c in COLUMNS}

_POLARS = {"string": pl.String, "boolean": pl.Boolean, "integer": pl.Int64, "number": pl.Float64, "date": pl.Date}


def polars_schema() -> dict[str, Any]:
    return {c.name: _POLARS[c.type] for c in COLUMNS}


def json_schema() -> dict[str, Any]:
    """JSON Schema of one decision point (a row of the file); every fact may be null (unknown)."""
    props: dict[str, Any] = {}
    for c in COLUMNS:
        if c.type == "date":
            p: dict[str, Any] = {"type": "string", "format": "date"}
        else:
            p = {"type": c.type}
        if c.values:
            p["enum"] = list(c.values)
        if c.low is not None:
            p["minimum"], p["maximum"] = c.low, c.high
        if c.vocabulary:
            p["description"] = c.doc
        props[c.name] = {"anyOf": [p, {"type": "null"}], "description": c.doc} if c.name != DECISION_ID else \
            {**p, "description": c.doc}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "mcrc cohort decision point",
            "type": "object", "required": [c.name for c in COLUMNS if c.required], "properties": props,
            "additionalProperties": True}


class CohortError(McrcError):
    """The cohort file cannot be audited; each problem names the column and the rows."""

    def __init__(self, path: str, problems: list[Problem]):
        self.problems = problems
        super().__init__(f"invalid cohort file {path} ({len(problems)} problem(s)):\n"
                         + "\n".join(f"  - {p}" for p in problems))


def _rows(mask: pl.Series) -> str:
    """1-based data row numbers of the offending values (the header is not counted)."""
    idx = mask.arg_true()
    shown = ", ".join(str(i + 1) for i in idx[:SHOWN_ROWS].to_list())
    more = f" and {len(idx) - SHOWN_ROWS} more" if len(idx) > SHOWN_ROWS else ""
    return f"rows {shown}{more}"


_CONTROL_CHARACTER = "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"  # as mcrc.strictjson refuses in JSON text


def _type_ok(dtype: pl.DataType, want: str) -> bool:
    if want == "string":
        return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    if want == "boolean":
        return dtype == pl.Boolean
    if want == "integer":
        return dtype.is_integer()
    if want == "number":
        return dtype.is_numeric()
    return dtype == pl.Date or dtype == pl.Datetime


def _missing(present: set[str]) -> list[Problem]:
    missing = [c.name for c in COLUMNS if c.required and c.name not in present]
    if not missing:
        return []
    return [Problem("columns", f"missing required column(s): {', '.join(missing)}",
                    "every fact is a column; leave its cells empty (NULL) when unknown")]


def validate(df: pl.DataFrame, path: str, vocabulary: dict[str, set[str]] | None = None,
             partial: bool = False) -> pl.DataFrame:
    """Check columns, types, domains and codes; return the frame with the canonical column types.
    `partial`: the frame holds only the columns an audit reads (the file's other columns were checked
    from its schema), so absent columns are neither reported nor added."""
    problems: list[Problem] = []
    present = set(df.columns)
    missing = [] if partial else [c.name for c in COLUMNS if c.required and c.name not in present]
    if missing:
        problems.append(Problem("columns", f"missing required column(s): {', '.join(missing)}",
                                "every fact is a column; leave its cells empty (NULL) when unknown"))
    for c in COLUMNS:
        if c.name not in present:
            continue
        s = df.get_column(c.name)
        if not _type_ok(s.dtype, c.type):
            bad = s.is_not_null()
            problems.append(Problem(f"column {c.name}", f"has type {s.dtype}, expected {c.type}"
                                    + (f" ({_rows(bad)} hold values)" if bad.any() else "")))
            continue
        bad = None
        domain = set(c.values) if c.values else (vocabulary or {}).get(c.vocabulary or "", set())
        if isinstance(s.dtype, pl.Enum) and set(s.dtype.categories.to_list()) <= domain:
            continue  # an Enum column whose categories are all allowed cannot hold another value
        if c.values:
            bad = s.is_not_null() & ~s.cast(pl.String).is_in(list(c.values))
            allowed = ", ".join(c.values)
        elif c.low is not None:
            bad = s.is_not_null() & ((s < c.low) | (s > c.high))
            allowed = f"{c.low:g}..{c.high:g}"
        elif c.vocabulary and vocabulary is not None:
            bad = s.is_not_null() & ~s.cast(pl.String).is_in(sorted(vocabulary[c.vocabulary]))
            allowed = f"a code of `mcrc vocab {c.vocabulary}`"
        elif c.type == "string" and not c.vocabulary:  # identifiers: the strict reader's rule for text
            bad = s.is_not_null() & s.cast(pl.String).str.contains(_CONTROL_CHARACTER)
            allowed = "text without control characters (tab, line feed and carriage return aside)"
        if bad is not None and bad.any():
            examples = ", ".join(repr(v) for v in s.filter(bad).unique(maintain_order=True).head(3).to_list())
            problems.append(Problem(f"column {c.name}", f"{_rows(bad)}: value(s) {examples} out of domain", allowed))
    if DECISION_ID in present and not problems:
        ids = df.get_column(DECISION_ID)
        if ids.null_count():
            problems.append(Problem(f"column {DECISION_ID}", f"{_rows(ids.is_null())}: empty identifier"))
        dup = ids.is_duplicated()
        if dup.any():
            problems.append(Problem(f"column {DECISION_ID}", f"{_rows(dup)}: duplicate identifier"))
    if problems:
        raise CohortError(path, problems)
    # canonical types; closed code lists become Enum columns (compared as small integers, which is
    # what makes hundreds of predicates per row cheap)
    types = {c.name: _dtype(c, vocabulary) for c in COLUMNS}
    casts = [pl.col(n).cast(t) for n, t in types.items() if n in present and df.schema[n] != t]
    absent = [] if partial else [pl.lit(None, dtype=t).alias(n) for n, t in types.items() if n not in present]
    if casts or absent:
        df = df.with_columns(casts + absent)
    return df


def _dtype(c: Column, vocabulary: dict[str, set[str]] | None) -> pl.DataType:
    if c.values:
        return pl.Enum(list(c.values))
    if c.vocabulary and vocabulary is not None:
        return pl.Enum(sorted(vocabulary[c.vocabulary]))
    return _POLARS[c.type]


def read_cohort(path: str | Path, vocabulary: dict[str, set[str]] | None = None,
                columns: list[str] | None = None) -> pl.DataFrame:
    """Read a Parquet or CSV cohort file and validate it (CSV cells are parsed with the schema's types).

    With `columns` (Parquet only) every column's presence and type is checked from the file's schema,
    but only the listed columns are read and checked value by value: the concordance table needs
    neither the identifiers nor the facts no rule reads."""
    p = Path(path)
    if not p.is_file():
        raise CohortError(str(path), [Problem("file", "no such file")])
    suffix = p.suffix.lower()
    try:
        if suffix in (".parquet", ".pq") and columns is not None:
            schema = pl.read_parquet_schema(p)
            problems = _missing(set(schema))
            problems += [Problem(f"column {c.name}", f"has type {schema[c.name]}, expected {c.type}")
                         for c in COLUMNS if c.name in schema and not _type_ok(schema[c.name], c.type)]
            if problems:
                raise CohortError(str(path), problems)
            df = validate(pl.read_parquet(p, columns=[c for c in columns if c in schema]), str(path), vocabulary,
                          partial=True)
            absent = [c for c in columns if c not in schema and c in BY_NAME and not BY_NAME[c].required]
            return df.with_columns([pl.lit(None, dtype=_dtype(BY_NAME[c], vocabulary)).alias(c) for c in absent]) \
                if absent else df
        if suffix in (".parquet", ".pq"):
            df = pl.read_parquet(p)
        elif suffix in (".csv", ".txt"):
            df = _read_csv(p)
        else:
            raise CohortError(str(path), [Problem("file", f"unknown file type {suffix!r}", ".parquet or .csv")])
    except CohortError:
        raise
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise CohortError(str(path), [Problem("file", f"cannot be read: {str(exc).splitlines()[0]}")]) from None
    return validate(df, str(path), vocabulary)


def has_every_column(path: str | Path) -> bool:
    """A Parquet file that holds every column of the schema, optional ones included (a backend that reads the file
    itself, Spark, needs them all; otherwise it is handed the validated frame, absent columns filled)."""
    return set(pl.read_parquet_schema(path)) >= {c.name for c in COLUMNS}


def _read_csv(p: Path) -> pl.DataFrame:
    """Every column is read as text first, then parsed per the schema, so a bad cell is reported by row."""
    raw = pl.read_csv(p, infer_schema=False)
    problems: list[Problem] = []
    parsed = []
    for name in raw.columns:
        c = BY_NAME.get(name)
        s = raw.get_column(name).str.strip_chars()
        s = pl.when(s == "").then(None).otherwise(s)
        s = raw.select(s.alias(name)).to_series()
        if c is None or c.type == "string":
            parsed.append(s)
            continue
        if c.type == "boolean":
            low = s.str.to_lowercase()
            out = raw.select(pl.when(low.is_in(["true", "1", "yes"])).then(True)
                             .when(low.is_in(["false", "0", "no"])).then(False).otherwise(None).alias(name)).to_series()
        elif c.type == "integer":
            out = s.cast(pl.Int64, strict=False)
        elif c.type == "number":
            out = s.cast(pl.Float64, strict=False)
        else:
            out = s.str.to_date("%Y-%m-%d", strict=False)
        bad = s.is_not_null() & out.is_null()
        if bad.any():
            examples = ", ".join(repr(v) for v in s.filter(bad).head(3).to_list())
            problems.append(Problem(f"column {name}", f"{_rows(bad)}: {examples} is not a {c.type}"))
        parsed.append(out)
    if problems:
        raise CohortError(str(p), problems)
    return pl.DataFrame(parsed)
