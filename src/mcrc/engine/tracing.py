"""The trace of the path taken: per table and row, the results a viewer highlights, shared between patients."""

from __future__ import annotations

from mcrc.engine.assessment import (
    ConditionTrace,
    RowTrace,
    TableTrace,
)
from mcrc.knowledge.model import Row, Table

_LABEL = ("not_fired", "possible", "fired")
_COND_LABEL = ("false", "unknown", "true")
_ROW_TRACE_CACHE: dict[tuple, RowTrace] = {}


def _row_trace(row: Row, code: tuple[int, ...]) -> RowTrace:
    """Trace entries are immutable and repeat across patients, so identical ones are shared. `code`: the row's
    result and the results of the conditions evaluated."""
    key = (id(row), code)
    hit = _ROW_TRACE_CACHE.get(key)
    if hit is None or hit.row != row.id:
        hit = RowTrace(row=row.id, result=_LABEL[code[0]], default=row.default,
                       conditions=tuple(ConditionTrace(condition=text, result=_COND_LABEL[r])
                                        for (_, text, _), r in zip(row.checks, code[1:], strict=False)))
        if len(_ROW_TRACE_CACHE) > 50_000:
            _ROW_TRACE_CACHE.clear()
        _ROW_TRACE_CACHE[key] = hit
    return hit


_TABLE_TRACE_CACHE: dict[tuple, tuple[Table, TableTrace]] = {}


def _row_codes(table: Table, tr: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The flat trace of a table cut into its rows' (result, *condition results): a default row is its result
    alone; another row its result and then every condition unless FALSE, the conditions up to the first FALSE one
    if FALSE (a row of a table that applies is FALSE only by a FALSE condition)."""
    out, i = [], 0
    for row in table.rows:
        res = tr[i]
        if row.default:
            out.append((res,))
            i += 1
            continue
        if res:
            end = i + 1 + len(row.checks)
        else:
            end = i + 1
            while tr[end] != 0:
                end += 1
            end += 1
        out.append(tr[i:end])
        i = end
    if i != len(tr):
        raise ValueError(f"trace of table {table.id} does not match its rows")
    return out


def _table_trace(table: Table, applies: int, tr: tuple) -> TableTrace:
    """The trace of a table that applies, shared between patients with the same row results."""
    key = (id(table), applies, tr)
    hit = _TABLE_TRACE_CACHE.get(key)
    if hit is None or hit[0] is not table:
        rows = tuple(_row_trace(row, code) for row, code in zip(table.rows, _row_codes(table, tr), strict=True))
        if len(_TABLE_TRACE_CACHE) > 20_000:
            _TABLE_TRACE_CACHE.clear()
        hit = _TABLE_TRACE_CACHE[key] = (table, TableTrace(table=table.id, title=table.title, hit=table.hit,
                                                           applies=_COND_LABEL[applies], rows=rows))
    return hit[1]


_SKIPPED_CACHE: dict[int, tuple[Table, TableTrace]] = {}


def _skipped_table_trace(table: Table) -> TableTrace:
    """The (shared, immutable) trace of a table that does not apply: every row not fired, unevaluated."""
    hit = _SKIPPED_CACHE.get(id(table))
    if hit is None or hit[0] is not table:
        rows = tuple(RowTrace(row=r.id, result="not_fired", default=r.default, conditions=()) for r in table.rows)
        hit = _SKIPPED_CACHE[id(table)] = (table, TableTrace(table=table.id, title=table.title, hit=table.hit,
                                                              applies="false", rows=rows))
    return hit[1]
