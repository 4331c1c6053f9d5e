"""The one canonical condition tree. Every backend reads this tree: the Python engine (here),
and later the SQL compiler and the verifier. Nothing else encodes a rule's logic.

Atoms test one fact: Eq, In, Cmp (ordered facts) and Known (is the fact known at all?).
Connectives: And, Or, Not. An empty condition is And(()) which is TRUE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcrc.logic import Tri

Values = dict[str, Any]


@dataclass(frozen=True)
class Eq:
    fact: str
    value: Any

    def text(self) -> str:
        return f"{self.fact} = {_show(self.value)}"


@dataclass(frozen=True)
class In:
    fact: str
    values: tuple[Any, ...]

    def text(self) -> str:
        return f"{self.fact} in {{{', '.join(_show(v) for v in self.values)}}}"


CMP_OPS = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ne": "!="}


@dataclass(frozen=True)
class Cmp:
    fact: str
    op: str  # lt, le, gt, ge, ne
    value: Any

    def text(self) -> str:
        return f"{self.fact} {CMP_OPS[self.op]} {_show(self.value)}"


@dataclass(frozen=True)
class Known:
    fact: str
    known: bool

    def text(self) -> str:
        return f"{self.fact} is {'known' if self.known else 'unknown'}"


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]

    def text(self) -> str:
        if not self.items:
            return "always"
        return " and ".join(_wrap(i) for i in self.items)


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]

    def text(self) -> str:
        return " or ".join(_wrap(i) for i in self.items)


@dataclass(frozen=True)
class Not:
    item: Expr

    def text(self) -> str:
        return f"not {_wrap(self.item)}"


Expr = Eq | In | Cmp | Known | And | Or | Not
TRUE_EXPR = And(())


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _wrap(e: Expr) -> str:
    return f"({e.text()})" if isinstance(e, And | Or) and len(e.items) > 1 else e.text()


def conjuncts(e: Expr) -> tuple[Expr, ...]:
    """Top-level conjuncts, so a trace can show each condition of a row with its own result."""
    return e.items if isinstance(e, And) else (e,)


def facts_of(e: Expr) -> set[str]:
    if isinstance(e, And | Or):
        out: set[str] = set()
        for i in e.items:
            out |= facts_of(i)
        return out
    if isinstance(e, Not):
        return facts_of(e.item)
    return {e.fact}


_PY_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "ne": lambda a, b: a != b,
}

_T, _F, _U = Tri.TRUE, Tri.FALSE, Tri.UNKNOWN


def compile_expr(e: Expr) -> Callable[[Values], Tri]:
    """Turn a tree into a closure with Kleene semantics (unknown fact -> UNKNOWN)."""
    if isinstance(e, Eq):
        fact, value = e.fact, e.value

        def eq(v: Values) -> Tri:
            x = v.get(fact)
            return _U if x is None else (_T if x == value else _F)

        return eq
    if isinstance(e, In):
        fact, values = e.fact, frozenset(e.values)

        def isin(v: Values) -> Tri:
            x = v.get(fact)
            return _U if x is None else (_T if x in values else _F)

        return isin
    if isinstance(e, Cmp):
        fact, op, value = e.fact, _PY_CMP[e.op], e.value

        def cmp(v: Values) -> Tri:
            x = v.get(fact)
            return _U if x is None else (_T if op(x, value) else _F)

        return cmp
    if isinstance(e, Known):
        fact, want = e.fact, e.known

        def known(v: Values) -> Tri:
            return _T if (v.get(fact) is not None) == want else _F

        return known
    if isinstance(e, And):
        parts = tuple(compile_expr(i) for i in e.items)

        def conj(v: Values) -> Tri:
            result = _T
            for p in parts:
                r = p(v)
                if r is _F:
                    return _F
                if r is _U:
                    result = _U
            return result

        return conj
    if isinstance(e, Or):
        parts = tuple(compile_expr(i) for i in e.items)

        def disj(v: Values) -> Tri:
            result = _F
            for p in parts:
                r = p(v)
                if r is _T:
                    return _T
                if r is _U:
                    result = _U
            return result

        return disj
    if isinstance(e, Not):
        inner = compile_expr(e.item)
        return lambda v: ~inner(v)
    raise TypeError(f"not a condition node: {e!r}")
