"""The possible rows of the compiled tables, shared: one `Waiting` entry per row and per set of unknown facts.

A possible row is listed with the facts it waits for: those of its UNKNOWN conditions (and of its table's
condition when that is UNKNOWN) that are unknown. The generated code (mcrc.knowledge.compile) encodes which
conditions are UNKNOWN and, for conditions over several facts, which of their facts are unknown, as the bits of
one integer, and looks the entry up by it: the same entry object for every patient whose row waits for the same
facts, so what is derived from it (the Assessment's entry for that row, mcrc.engine.build) is made once and kept
on it. The set is built from the bits by the very operations the code made it with before (and the interpreter
makes it with), in the same order, so it iterates in the same order: ties between facts are broken by that order
where rows are counted (mcrc.engine.branches).

Bits: condition j of the row is bit j, the table's condition bit APPLIES; the facts of the multi-fact conditions
(and of the table's condition) have a bit each from FACT_BASE up, numbered per table.
"""

from __future__ import annotations

from typing import Any

from mcrc.knowledge.model import Row

APPLIES = 1 << 61  # above the conditions of a row (at most compile.MAX_CONDITIONS)
FACT_BASE = 62
MAX_ENTRIES = 64  # kept per row (as many as the entries kept per row before); beyond it they are made again


class Waiting(tuple):
    """(row, the unknown facts it waits for): a tuple, as the interpreter's possible rows are, shared between
    evaluations. Nothing modifies the set. `memo` holds what a reader derives from it once (mcrc.engine.build; a
    tuple subclass cannot have slots, so it lives in the instance's dict)."""

    def __new__(cls, row: Row, unknown: set[str]):
        self = super().__new__(cls, (row, unknown))
        self.memo = None
        return self

    def __reduce__(self):
        return (tuple, (tuple(self),))  # a plain tuple out of the process (nothing needs the memo there)


# How a row's set is rebuilt from its bits: the table's condition (None if it reads no fact; (names, bits) for a
# set built from several facts, or a one-name frozenset), then per condition (bit, names-or-one-name frozenset,
# fact bits or None), in the order the generated code merges them.
Part = tuple[frozenset[str], dict[str, int] | None]


def rebuild(m: int, applies: Part | None, conditions: tuple[tuple[int, frozenset[str], dict[str, int] | None], ...]
            ) -> set[str]:
    """The unknown facts the bits `m` stand for, merged as the generated code merged them."""
    u: set[str] = set()
    if applies is not None and m & APPLIES:
        names, bits = applies
        u |= names if bits is None else {f for f in names if m & bits[f]}
    for bit, names, bits in conditions:
        if m & bit:
            u |= names if bits is None else {f for f in names if m & bits[f]}
    return u


def waiting(cache: dict[int, Waiting], m: int, plan: tuple[Row, Part | None, tuple]) -> Waiting:
    """The shared entry of a row for the bits `m` (made on first use)."""
    if len(cache) >= MAX_ENTRIES:
        cache.clear()
    entry = cache[m] = Waiting(plan[0], rebuild(m, plan[1], plan[2]))
    return entry


class Bits:
    """The bit numbering of one table's facts (those of its multi-fact conditions and of its own condition)."""

    def __init__(self) -> None:
        self.of: dict[str, int] = {}

    def fact(self, name: str) -> int:
        if name not in self.of:
            self.of[name] = 1 << (FACT_BASE + len(self.of))
        return self.of[name]

    def part(self, names: frozenset[str]) -> tuple[frozenset[str], dict[str, int] | None]:
        """How a condition over `names` adds to the set: the one-name frozenset itself, or its facts' bits."""
        if len(names) == 1:
            return names, None
        return names, {f: self.fact(f) for f in sorted(names)}  # sorted: the same source in every process


def none_bits(code: Any, bits: dict[str, int]) -> str:
    """Code for the bits of the facts in `bits` that are unknown (None), OR-ed (`code`: the table's `_Code`)."""
    return " | ".join(f"({b} if {code.var(f)} is None else 0)" for f, b in bits.items())
