"""The Python backend: the decision tables compiled, from the same condition trees as every other backend, into
generated straight-line Python (decision record 0047).

The tree interpreter (`mcrc.knowledge.expr.compile_expr` closures driven by `mcrc.engine.evaluate.evaluate_table`)
stays the reference; tests prove both give the same results. Truth values inside the generated code are small
ints in Kleene order (0 FALSE, 1 UNKNOWN, 2 TRUE): AND is `min`, OR is `max`, NOT is `2 - x`, and an atom over an
unknown fact (None) is 1. Generated once per knowledge base (at load, or on first use of one built another way):

- `evaluate(values, w=False, show=True, prev=None, redo=None)`: every table, in order, each as (table, applies,
  fired rows, possible rows as (row, its unknown facts), trace); with `w` the trace is, row after row, the row's
  result and the results of the conditions evaluated, in one flat tuple (a row's length follows from its result:
  all its conditions unless FALSE, up to the first FALSE one if FALSE; a default row, its result alone), else
  None. `show=False` hides the tables of newer-evidence sources (as not applying).
  With `prev` (the results for other facts) only the tables whose `redo[i]` is true are evaluated again.
- per table, `fired(values)`: the rows that fire (defaults included), for hypothetical answers (the branches); its
  conditions are plain Python booleans (TRUE or not), with short cuts;
- per table, `rows(values, w=False)`: that table alone, as `evaluate` gives it (for tests and tools; generated on
  first use).

They mirror the interpreter exactly: a row's top-level conditions are evaluated in order until one is FALSE
(what the trace shows); a default row fires when its table applies and no other row fired; a unique table with
two rows firing raises HitPolicyViolation with the same rows; the unknown facts of a possible row are collected in
the same order. Conditions inside a top-level condition are pure, so they are evaluated without short cuts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from mcrc.errors import HitPolicyViolation, KnowledgeError, Problem
from mcrc.knowledge.compile_waiting import APPLIES, Bits, none_bits, waiting
from mcrc.knowledge.expr import And, Cmp, Eq, Expr, In, Known, Not, Or, conjuncts
from mcrc.knowledge.model import KnowledgeBase, Row, Table

_OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ne": "!="}
MAX_CONDITIONS = 60  # top-level conditions of a row (the rows of the knowledge base have at most 13)


class _Code:
    """Code over the facts: a fact is read once into a local variable (`names`); constants that are not plain
    literals go into the namespace `ns` under `prefix`."""

    def __init__(self, ns: dict[str, Any], names: dict[str, str], prefix: str = ""):
        self.ns, self.names, self.prefix = ns, names, prefix

    def var(self, fact: str) -> str:
        if fact not in self.names:
            self.names[fact] = f"x{len(self.names)}"
        return self.names[fact]

    def const(self, value: Any) -> str:
        name = f"{self.prefix}K{len(self.ns)}"
        self.ns[name] = value
        return name

    def lit(self, value: Any) -> str:
        if isinstance(value, bool | str) or (type(value) is int) or (type(value) is float and math.isfinite(value)):
            return repr(value)
        return self.const(value)

    def members(self, e: In) -> str:
        if all(isinstance(v, bool | str) or type(v) is int for v in e.values):
            return "{" + ", ".join(repr(v) for v in e.values) + "}"  # folded into a frozenset constant
        return self.const(frozenset(e.values))

    def expr(self, e: Expr) -> str:
        """An int in Kleene order."""
        if isinstance(e, Eq):
            x = self.var(e.fact)
            return f"(1 if {x} is None else 2 if {x} == {self.lit(e.value)} else 0)"
        if isinstance(e, In):
            x = self.var(e.fact)
            return f"(1 if {x} is None else 2 if {x} in {self.members(e)} else 0)"
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
            return f"{self.var(e.fact)} in {self.members(e)}"
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
            return f"({x} is not None and {x} not in {self.members(e)})"
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


class _Table:
    """The code of one table; its rows, result when it does not apply and id are `{prefix}R<i>`, `{prefix}OFF`,
    `{prefix}T` and `{prefix}ID` in the namespace."""

    def __init__(self, table: Table, prefix: str, ns: dict[str, Any]):
        self.table, self.p, self.ns = table, prefix, ns
        self.bits = Bits()  # the table's fact bits for its possible rows' entries (mcrc.knowledge.compile_waiting)
        ns[f"{prefix}T"] = table
        ns[f"{prefix}ID"] = table.id
        ns[f"{prefix}OFF"] = (table, 0, (), (), None)
        for i, row in enumerate(table.rows):
            ns[f"{prefix}R{i}"] = row

    def facts(self, code: _Code) -> None:
        """Give every fact the table reads its variable (so that all are read before the table's code runs)."""
        code.expr(self.table.applies)
        for r in self.table.rows:
            if not r.default:
                code.expr(r.when)

    def block(self, code: _Code, ind: str) -> list[str]:
        """Statements setting `res` to the table's result (`w`: record the trace)."""
        t, p = self.table, self.p
        lines = [f"{ind}a = {code.expr(t.applies)}", f"{ind}if a == 0:", f"{ind}    res = {p}OFF", f"{ind}else:"]
        ind += "    "
        if t.applies_facts:  # the bits of an UNKNOWN `applies` and its unknown facts, shared by the table's rows
            _, bits = self.bits.part(t.applies_facts)
            lines.append(f"{ind}ma = ({APPLIES}{' | ' + none_bits(code, bits) if bits else ''}) if a == 1 else 0")
        lines += [f"{ind}fired = []", f"{ind}possible = []", f"{ind}tr = [] if w else None"]
        defaults = [i for i, r in enumerate(t.rows) if r.default]
        for i, row in enumerate(t.rows):
            lines.append(f"{ind}# {row.id}")
            if row.default:  # its result is known once every other row is: its place is kept
                lines += [f"{ind}if w:", f"{ind}    at{i} = len(tr)", f"{ind}    tr.append(0)"]
                continue
            conds = [code.expr(c) for c in conjuncts(row.when)]
            if len(conds) > MAX_CONDITIONS:  # one nested block per condition; Python allows 100 levels
                raise KnowledgeError([Problem(f"{row.file}:{row.line}" if row.file else row.id,
                                              f"row {row.id} has {len(conds)} top-level conditions; at most "
                                              f"{MAX_CONDITIONS} are allowed",
                                              "group some of them under one `all: [...]`")])
            lines += self._row(code, i, conds, ind)
        if defaults:
            lines.append(f"{ind}d = 2 if a == 2 and not fired else 0")
            lines.append(f"{ind}if w:")
            lines += [f"{ind}    tr[at{i}] = d" for i in defaults]
            lines.append(f"{ind}if d:")
            lines += [f"{ind}    fired.append({p}R{i})" for i in defaults]
        if t.hit == "unique":
            lines.append(f"{ind}if len(fired) > 1:")
            lines.append(f"{ind}    raise HitPolicyViolation({p}ID, [r.id for r in fired])")
        lines.append(f"{ind}res = ({p}T, a, fired, possible, tuple(tr) if w else None)")
        return lines

    def _waiting(self, code: _Code, i: int, ind: str, names: list[str]) -> list[str]:
        """Append the row's shared possible-row entry, found by the bits of its UNKNOWN conditions and their unknown
        facts (mcrc.knowledge.compile_waiting); the entry's set is merged as the interpreter merges it: the table's
        condition's unknown facts, then each UNKNOWN condition's, in order."""
        t, row = self.table, self.table.rows[i]
        terms = ["ma"] if t.applies_facts else []
        plan = []
        for j, c in enumerate(names):
            facts = row.check_facts[j]
            if not facts:
                continue
            part_names, bits = self.bits.part(facts)
            for f in sorted(facts):
                if f not in code.names:  # every fact a condition reads is read before the table's code
                    raise AssertionError(f"{t.id}: {f} is not read")
            terms.append(f"(({1 << j}{' | ' + none_bits(code, bits) if bits else ''}) if {c} == 1 else 0)")
            plan.append((1 << j, part_names, bits))
        applies = self.bits.part(t.applies_facts) if t.applies_facts else None
        self.ns[f"{self.p}W{i}"] = (row, applies, tuple(plan))
        self.ns[f"{self.p}P{i}"] = {}
        return [f"{ind}m = {' | '.join(terms) or '0'}",
                f"{ind}p = {self.p}P{i}.get(m)",
                f"{ind}if p is None:",
                f"{ind}    p = _waiting({self.p}P{i}, m, {self.p}W{i})",
                f"{ind}possible.append(p)"]

    def _row(self, code: _Code, i: int, cs: list[str], base: str) -> list[str]:
        """A row's conditions in order until one is FALSE (nested ifs on the nonzero ones)."""
        row = f"{self.p}R{i}"
        lines: list[str] = []
        ind = base
        for j, c in enumerate(cs):
            lines.append(f"{ind}c{j} = {c}")
            lines.append(f"{ind}if c{j}:")
            ind += "    "
        names = [f"c{j}" for j in range(len(cs))]
        listed = "".join(c + ", " for c in names)
        lines.append(f"{ind}if {' and '.join(['a == 2', *(f'{c} == 2' for c in names)])}:")
        lines.append(f"{ind}    fired.append({row})")
        lines.append(f"{ind}    if w:")
        lines.append(f"{ind}        tr += (2, {listed})")
        lines.append(f"{ind}else:")
        lines += self._waiting(code, i, f"{ind}    ", names)
        lines.append(f"{ind}    if w:")
        lines.append(f"{ind}        tr += (1, {listed})")
        for j in range(len(cs) - 1, -1, -1):  # the else branches: stopped at the first FALSE condition
            pad = base + "    " * j
            lines.append(f"{pad}elif w:")
            lines.append(f"{pad}    tr += (0, {''.join(c + ', ' for c in names[:j + 1])})")
        return lines

    def fired_function(self, name: str) -> list[str]:
        """`def <name>(v)`: the rows that fire, as the interpreter's `fired_in_table` gives them."""
        t, p = self.table, self.p
        code = _Code(self.ns, {}, p)
        applies = code.true(t.applies)
        first = dict(code.names)
        conds = [" and ".join(code.true(c) for c in conjuncts(r.when)) or "True" for r in t.rows]
        lines = [f"def {name}(v):", "    get = v.get"]
        lines += [f"    {x} = get({f!r})" for f, x in first.items()]
        lines += [f"    if not {applies}:", "        return []"]
        lines += [f"    {x} = get({f!r})" for f, x in code.names.items() if f not in first]
        lines.append("    fired = []")
        defaults = [i for i, r in enumerate(t.rows) if r.default]
        for i, row in enumerate(t.rows):
            if not row.default:
                lines += [f"    # {row.id}", f"    if {conds[i]}:", f"        fired.append({p}R{i})"]
        if t.hit == "unique":
            lines.append("    if len(fired) > 1:")
            lines.append(f"        raise HitPolicyViolation({p}ID, [r.id for r in fired])")
        if defaults:
            lines += ["    if not fired:", f"        fired.append({p}R{defaults[-1]})"]
        lines.append("    return fired")
        return lines

    def rows_function(self, name: str) -> list[str]:
        """`def <name>(v, w=False)`: the table alone, as `evaluate` gives it."""
        code = _Code(self.ns, {}, self.p)
        self.facts(code)
        lines = [f"def {name}(v, w=False):", "    get = v.get"]
        lines += [f"    {x} = get({f!r})" for f, x in code.names.items()]
        lines += self.block(code, "    ")
        lines.append("    return res")
        return lines


def _namespace() -> dict[str, Any]:
    return {"_min": min, "_max": max, "HitPolicyViolation": HitPolicyViolation, "_waiting": waiting}


# The knowledge-base cache (mcrc.knowledge.cache, decision record 0049) keeps the code compiled here between runs:
# PRECOMPILED holds what it read (generated source -> code object, used only for a byte-identical source and the
# same name: only the compile step is skipped); while RECORDED is a dict, what is compiled here goes into it too.
PRECOMPILED: dict[str, CodeType] = {}
# Code compiled from conditions outside the tables (constraints, caveats; mcrc.knowledge.compile_checks): the same
# for every knowledge base with those conditions, so the cache keeps it whichever knowledge base is loaded.
SHARED_CODE = ("<mcrc constraints ", "<mcrc conditions ")
RECORDED: dict[str, CodeType] | None = None


def _run(lines: list[str], ns: dict[str, Any], name: str) -> str:
    src = "\n".join(lines) + "\n"
    code = PRECOMPILED.get(src)
    if code is None or code.co_filename != name:
        code = compile(src, name, "exec")
        if RECORDED is not None:
            RECORDED[src] = code
    exec(code, ns)  # our own generated code, from the validated knowledge base's trees
    return src


@dataclass(frozen=True, slots=True)
class CompiledTable:
    table: Table
    fired: Callable[[dict], list[Row]]
    off: tuple  # the result of a table that does not apply (or is hidden: newer evidence off)
    source: str  # the generated code (for reading and debugging)
    _rows: list = field(default_factory=list, repr=False)

    def rows(self, values: dict, w: bool = False) -> tuple:
        """This table alone, as `CompiledKnowledge.evaluate` gives it (generated on first use)."""
        if not self._rows:
            ns = _namespace()
            _run(_Table(self.table, "", ns).rows_function("rows"), ns, f"<mcrc table {self.table.id} rows>")
            self._rows.append(ns["rows"])
        return self._rows[0](values, w)

    def trace(self, values: dict) -> tuple:
        return self.rows(values, True)


@dataclass(frozen=True, slots=True)
class CompiledKnowledge:
    evaluate: Callable[..., list]  # evaluate(values, w=False, show=True, prev=None, redo=None)
    tables: tuple[CompiledTable, ...]
    source: str


def compile_table(table: Table) -> CompiledTable:
    ns = _namespace()
    src = _run(_Table(table, "", ns).fired_function("fired"), ns, f"<mcrc table {table.id}>")
    return CompiledTable(table=table, fired=ns["fired"], off=ns["OFF"], source=src)


def compile_knowledge(kb: KnowledgeBase) -> CompiledKnowledge:
    ns = _namespace()
    code = _Code(ns, {})
    tables = [_Table(t, f"t{k}_", ns) for k, t in enumerate(kb.tables)]
    for t in tables:
        t.facts(code)
    lines = ["def evaluate(v, w=False, show=True, prev=None, redo=None):", "    get = v.get"]
    lines += [f"    {x} = get({f!r})" for f, x in code.names.items()]
    lines += ["    out = []", "    append = out.append"]
    for k, t in enumerate(tables):
        lines.append(f"    # table {t.table.id}")
        lines.append(f"    if prev is not None and not redo[{k}]:")
        lines.append(f"        append(prev[{k}])")
        if t.table.evidence:
            lines.append("    elif not show:")
            lines.append(f"        append(t{k}_OFF)")
        lines.append("    else:")
        lines += t.block(code, "        ")
        lines.append("        append(res)")
    lines.append("    return out")
    src = _run(lines, ns, f"<mcrc knowledge {kb.version}>")
    return CompiledKnowledge(evaluate=ns["evaluate"], tables=tuple(compiled_table(t) for t in kb.tables), source=src)


_TABLES: dict[int, tuple[Table, CompiledTable]] = {}
_KBS: dict[int, tuple[KnowledgeBase, CompiledKnowledge]] = {}


def compiled_table(table: Table) -> CompiledTable:
    """The compiled functions of one table, generated on first use (the loader does it at load)."""
    hit = _TABLES.get(id(table))
    if hit is None or hit[0] is not table:
        if len(_TABLES) > 5_000:
            _TABLES.clear()
        hit = _TABLES[id(table)] = (table, compile_table(table))
    return hit[1]


def compiled(kb: KnowledgeBase) -> CompiledKnowledge:
    """The compiled knowledge base, generated on first use (the loader does it at load)."""
    hit = _KBS.get(id(kb))
    if hit is None or hit[0] is not kb:
        if len(_KBS) > 100:
            _KBS.clear()
        hit = _KBS[id(kb)] = (kb, compile_knowledge(kb))
    return hit[1]


def compiled_tables(kb: KnowledgeBase) -> tuple[CompiledTable, ...]:
    """The compiled functions of every table of a knowledge base, in table order."""
    return compiled(kb).tables
