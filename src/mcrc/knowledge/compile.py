"""The Python backend: each decision table compiled, from the same condition trees as every other backend, into
generated straight-line code (decision record 0047).

The tree interpreter (`mcrc.knowledge.expr.compile_expr` closures driven by `mcrc.engine.evaluate.evaluate_table`)
stays the reference; tests prove both give the same results. Truth values inside the generated code are small
ints in Kleene order (0 FALSE, 1 UNKNOWN, 2 TRUE): AND is `min`, OR is `max`, NOT is `2 - x`, and an atom over an
unknown fact (None) is 1. Each table gets two functions, generated once per table (at load, or on first use of a
table built another way):

- `rows(values, tr=None)` -> (table, applies, fired rows, possible rows as (row, its unknown facts), trace), for
  the answer; given a list as `tr`, the trace is per row (result, *results of the conditions evaluated), else None;
- `fired(values)` -> the rows that fire (defaults included), for hypothetical answers (the branches); its
  conditions are plain Python booleans (TRUE or not), with short cuts.

They mirror the interpreter exactly: a row's top-level conditions are evaluated in order until one is FALSE
(what the trace shows); a default row fires when its table applies and no other row fired; a unique table with
two rows firing raises HitPolicyViolation with the same rows; the unknown facts of a possible row are collected in
the same order. Conditions inside a top-level condition are pure, so they are evaluated without short cuts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcrc.errors import HitPolicyViolation
from mcrc.knowledge.expr import And, Cmp, Eq, Expr, In, Known, Not, Or, conjuncts
from mcrc.knowledge.model import KnowledgeBase, Row, Table

_OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ne": "!="}


@dataclass(frozen=True, slots=True)
class CompiledTable:
    table: Table
    rows: Callable[..., tuple]  # rows(values, tr=None): with a list as `tr`, the trace is recorded in it
    fired: Callable[[dict], list[Row]]
    source: str  # the generated code (for reading and debugging)
    off: tuple  # the result of a table that does not apply (or is hidden: newer evidence off)

    def trace(self, values: dict) -> tuple:
        return self.rows(values, [])


class _Gen:
    """Generates the code of one table; constants that are not plain literals go into the namespace."""

    def __init__(self, table: Table):
        self.table = table
        self.ns: dict[str, Any] = {"_min": min, "_max": max, "TABLE_ID": table.id,
                                   "HitPolicyViolation": HitPolicyViolation, "AF": table.applies_facts}
        self.names: dict[str, str] = {}  # fact -> local variable
        for i, row in enumerate(table.rows):
            self.ns[f"R{i}"] = row

    def var(self, fact: str) -> str:
        if fact not in self.names:
            self.names[fact] = f"x{len(self.names)}"
        return self.names[fact]

    def lit(self, value: Any) -> str:
        if isinstance(value, bool | str) or (type(value) is int) or (type(value) is float and math.isfinite(value)):
            return repr(value)
        name = f"K{len(self.ns)}"
        self.ns[name] = value
        return name

    def expr(self, e: Expr) -> str:
        if isinstance(e, Eq):
            x = self.var(e.fact)
            return f"(1 if {x} is None else 2 if {x} == {self.lit(e.value)} else 0)"
        if isinstance(e, In):
            x = self.var(e.fact)
            return f"(1 if {x} is None else 2 if {x} in {self._members(e)} else 0)"
        if isinstance(e, Cmp):
            x = self.var(e.fact)
            return f"(1 if {x} is None else 2 if {x} {_OPS[e.op]} {self.lit(e.value)} else 0)"
        if isinstance(e, Known):
            x = self.var(e.fact)
            return f"(0 if {x} is None else 2)" if e.known else f"(2 if {x} is None else 0)"
        if isinstance(e, And | Or):
            if not e.items:
                return "2" if isinstance(e, And) else "0"
            if len(e.items) == 1:
                return self.expr(e.items[0])
            fn = "_min" if isinstance(e, And) else "_max"
            return f"{fn}({', '.join(self.expr(i) for i in e.items)})"
        if isinstance(e, Not):
            return f"(2 - {self.expr(e.item)})"
        raise TypeError(f"not a condition node: {e!r}")

    def true(self, e: Expr) -> str:
        """A Python bool: the condition is TRUE (not FALSE, not UNKNOWN)."""
        if isinstance(e, Eq):
            return f"{self.var(e.fact)} == {self.lit(e.value)}"  # None equals no value of a fact
        if isinstance(e, In):
            return f"{self.var(e.fact)} in {self._members(e)}"
        if isinstance(e, Cmp):
            x = self.var(e.fact)
            return f"({x} is not None and {x} {_OPS[e.op]} {self.lit(e.value)})"
        if isinstance(e, Known):
            return f"{self.var(e.fact)} is {'not ' if e.known else ''}None"
        if isinstance(e, And | Or):
            if not e.items:
                return "True" if isinstance(e, And) else "False"
            joint = " and " if isinstance(e, And) else " or "
            return f"({joint.join(self.true(i) for i in e.items)})"
        if isinstance(e, Not):
            return self.false(e.item)
        raise TypeError(f"not a condition node: {e!r}")

    def false(self, e: Expr) -> str:
        """A Python bool: the condition is FALSE (an atom over an unknown fact is not)."""
        if isinstance(e, Eq):
            x = self.var(e.fact)
            return f"({x} is not None and {x} != {self.lit(e.value)})"
        if isinstance(e, In):
            x = self.var(e.fact)
            return f"({x} is not None and {x} not in {self._members(e)})"
        if isinstance(e, Cmp):
            x = self.var(e.fact)
            return f"({x} is not None and not {x} {_OPS[e.op]} {self.lit(e.value)})"
        if isinstance(e, Known):
            return f"{self.var(e.fact)} is {'' if e.known else 'not '}None"
        if isinstance(e, And | Or):
            if not e.items:
                return "False" if isinstance(e, And) else "True"
            joint = " or " if isinstance(e, And) else " and "
            return f"({joint.join(self.false(i) for i in e.items)})"
        if isinstance(e, Not):
            return self.true(e.item)
        raise TypeError(f"not a condition node: {e!r}")

    def _members(self, e: In) -> str:
        if all(isinstance(v, bool | str) or type(v) is int for v in e.values):
            return "{" + ", ".join(repr(v) for v in e.values) + "}"  # folded into a frozenset constant
        name = f"K{len(self.ns)}"
        self.ns[name] = frozenset(e.values)
        return name

    def source(self) -> str:
        t = self.table
        applies = self.expr(t.applies)
        applies_vars = dict(self.names)
        conds = [[self.expr(c) for c in conjuncts(r.when)] if not r.default else [] for r in t.rows]
        out: list[str] = []
        out += self._function("rows", applies, applies_vars, conds)
        names = dict(self.names)
        self.names = {}
        applies = self.true(t.applies)
        applies_vars = dict(self.names)
        conds = [[self.true(c) for c in conjuncts(r.when)] if not r.default else [] for r in t.rows]
        out += self._function("fired", applies, applies_vars, conds)
        self.names = names
        return "\n".join(out) + "\n"

    def _function(self, mode: str, applies: str, applies_vars: dict[str, str], conds: list[list[str]]) -> list[str]:
        t = self.table
        body = [f"def {mode}(v{', tr=None' if mode == 'rows' else ''}):", "    get = v.get"]
        body += [f"    {x} = get({f!r})" for f, x in applies_vars.items()]
        body.append(f"    a = {applies}")
        rest = [(f, x) for f, x in self.names.items() if f not in applies_vars]
        if mode == "fired":  # `a` and the conditions are bools here: TRUE or not
            body.append("    if not a:")
            body.append("        return []")
        else:
            body.append("    if a == 0:")
            body.append("        return NOT_APPLIES")
        body += [f"    {x} = get({f!r})" for f, x in rest]
        body.append("    fired = []")
        defaults = [i for i, r in enumerate(t.rows) if r.default]
        if mode != "fired":
            body.append("    possible = []")
        if mode == "rows":
            body.append("    w = tr is not None")
        for i, row in enumerate(t.rows):
            body.append(f"    # {row.id}")
            if row.default:
                if mode == "rows":
                    body.append("    if w:")
                    body.append("        tr.append(None)")
                continue
            cs = conds[i]
            if mode == "fired":
                test = " and ".join(cs) or "True"
                body.append(f"    if {test}:")
                body.append(f"        fired.append(R{i})")
                continue
            body += self._row(i, cs)
        if mode == "fired":
            if t.hit == "unique":
                body.append("    if len(fired) > 1:")
                body.append("        raise HitPolicyViolation(TABLE_ID, [r.id for r in fired])")
            if defaults:
                body.append("    if not fired:")
                body.append(f"        fired.append(R{defaults[-1]})")
            body.append("    return fired")
            return body
        if defaults:
            body.append("    d = 2 if a == 2 and not fired else 0")
            body.append("    if w:")
            body += [f"        tr[{i}] = (d,)" for i in defaults]
            body.append("    if d:")
            body += [f"        fired.append(R{i})" for i in defaults]
        if t.hit == "unique":
            body.append("    if len(fired) > 1:")
            body.append("        raise HitPolicyViolation(TABLE_ID, [r.id for r in fired])")
        body.append("    return (T, a, fired, possible, tuple(tr) if w else None)")
        return body

    def _unknown(self, ind: str, cond: str, names: frozenset[str]) -> list[str]:
        """Add the unknown facts of an UNKNOWN condition to `u` as the interpreter does (`u |= {f for f in names if
        unknown}`, iterating the same frozenset): the same set, built in the same order (the branches rank the
        facts rows wait for in that order when counts tie)."""
        if not names:
            return []
        out = [f"{ind}if {cond} == 1:"]
        if len(names) == 1:  # an UNKNOWN condition on one fact: the fact is unknown
            out.append(f"{ind}    u |= {{{next(iter(names))!r}}}")
            return out
        out.append(f"{ind}    t = set()")
        for f in names:
            if f not in self.names:  # every fact a condition reads is fetched at the top of the function
                raise AssertionError(f"{self.table.id}: {f} is not fetched")
            out.append(f"{ind}    if {self.var(f)} is None:")
            out.append(f"{ind}        t.add({f!r})")
        out.append(f"{ind}    u |= t")
        return out

    def _row(self, i: int, cs: list[str]) -> list[str]:
        """A row's conditions in order until one is FALSE (nested ifs on the nonzero ones)."""
        lines: list[str] = []
        ind = "    "
        for j, c in enumerate(cs):
            lines.append(f"{ind}c{j} = {c}")
            lines.append(f"{ind}if c{j}:")
            ind += "    "
        names = [f"c{j}" for j in range(len(cs))]
        all_true = " and ".join(["a == 2", *(f"{c} == 2" for c in names)])
        lines.append(f"{ind}if {all_true}:")
        lines.append(f"{ind}    fired.append(R{i})")
        lines.append(f"{ind}    if w:")
        lines.append(f"{ind}        tr.append((2, {''.join(c + ', ' for c in names)}))")
        lines.append(f"{ind}else:")
        lines.append(f"{ind}    u = set()")
        lines += self._unknown(f"{ind}    ", "a", self.table.applies_facts)
        for j, c in enumerate(names):
            lines += self._unknown(f"{ind}    ", c, self.table.rows[i].check_facts[j])
        lines.append(f"{ind}    possible.append((R{i}, u))")
        lines.append(f"{ind}    if w:")
        lines.append(f"{ind}        tr.append((1, {''.join(c + ', ' for c in names)}))")
        for j in range(len(cs) - 1, -1, -1):  # the else branches: stopped at the first FALSE condition
            pad = "    " * (j + 1)
            lines.append(f"{pad}elif w:")
            lines.append(f"{pad}    tr.append((0, {''.join(c + ', ' for c in names[:j + 1])}))")
        return lines


def compile_table(table: Table) -> CompiledTable:
    gen = _Gen(table)
    src = gen.source()
    ns = dict(gen.ns)
    ns["T"] = table
    ns["NOT_APPLIES"] = (table, 0, (), (), None)
    code = compile(src, f"<mcrc table {table.id}>", "exec")
    exec(code, ns)  # our own generated code, from the validated knowledge base's trees
    return CompiledTable(table=table, rows=ns["rows"], fired=ns["fired"], source=src,
                         off=ns["NOT_APPLIES"])


_TABLES: dict[int, tuple[Table, CompiledTable]] = {}
_KBS: dict[int, tuple[KnowledgeBase, tuple[CompiledTable, ...]]] = {}


def compiled_table(table: Table) -> CompiledTable:
    """The compiled functions of one table, generated on first use (the loader does it at load)."""
    hit = _TABLES.get(id(table))
    if hit is None or hit[0] is not table:
        if len(_TABLES) > 5_000:
            _TABLES.clear()
        hit = _TABLES[id(table)] = (table, compile_table(table))
    return hit[1]


def compiled_tables(kb: KnowledgeBase) -> tuple[CompiledTable, ...]:
    """The compiled functions of every table of a knowledge base, in table order."""
    hit = _KBS.get(id(kb))
    if hit is None or hit[0] is not kb:
        if len(_KBS) > 100:
            _KBS.clear()
        hit = _KBS[id(kb)] = (kb, tuple(compiled_table(t) for t in kb.tables))
    return hit[1]
