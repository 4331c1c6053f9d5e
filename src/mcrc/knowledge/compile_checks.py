"""Checks compiled from condition trees outside the tables, by the same generator: whether facts break a
constraint (the branches), and which caveat conditions hold (decision record 0047)."""

from __future__ import annotations

from collections.abc import Callable

from mcrc.knowledge.compile import _Code, _namespace, _run
from mcrc.knowledge.expr import Expr


class _ReadInPlace(_Code):
    """Code that reads a fact where it is tested (`get(name)`), not once at the top: a constraint's `if` is
    rarely TRUE, so its `then` facts are mostly never read (reading twice costs less than reading all)."""

    def var(self, fact: str) -> str:
        return f"get({fact!r})"


def compile_breaks(pairs: list[tuple[Expr, Expr]], name: str = "breaks") -> Callable[[dict], bool]:
    """A function telling whether facts break any of the pairs (if, then): `if` TRUE and `then` FALSE (the
    constraints.yaml check: a combination no real patient can produce), generated from the same trees; each fact
    read where it is tested."""
    ns = _namespace()
    code = _ReadInPlace(ns, {}, "c_")
    tests = [f"({code.true(if_)} and {code.false(then)})" for if_, then in pairs]
    lines = [f"def {name}(v):", "    get = v.get"]
    lines.append(f"    return {' or '.join(tests) or 'False'}")
    _run(lines, ns, f"<mcrc constraints {name}>")
    return ns[name]


def compile_holding(conditions: list[Expr], name: str = "holding") -> Callable[[dict], list[int]]:
    """A function giving the positions of the conditions that are TRUE on the facts (the caveat rules' `when`),
    generated from the same trees; facts are read once, in the order the conditions first name them."""
    ns = _namespace()
    code = _Code(ns, {}, "h_")
    tests = [code.true(c) for c in conditions]
    lines = [f"def {name}(v):", "    get = v.get"]
    lines += [f"    {x} = get({f!r})" for f, x in code.names.items()]
    lines.append("    out = []")
    for i, test in enumerate(tests):
        lines += [f"    if {test}:", f"        out.append({i})"]
    lines.append("    return out")
    _run(lines, ns, f"<mcrc conditions {name}>")
    return ns[name]
