"""Kleene three-valued logic, the semantics every backend shares.

A condition over an unknown fact is UNKNOWN, never silently false. SQL's NULL follows the same
truth tables, which is what lets the rules compile to SQL unchanged in meaning.

Tri is a tiny class with three singletons (not an Enum) because it sits in the engine's hot loop:
AND is the minimum and OR the maximum of FALSE < UNKNOWN < TRUE.
"""

from __future__ import annotations


class Tri:
    """A truth value: Tri.TRUE, Tri.FALSE or Tri.UNKNOWN (compare with `is`)."""

    __slots__ = ("label", "name", "rank")
    TRUE: Tri
    FALSE: Tri
    UNKNOWN: Tri

    def __init__(self, rank: int, name: str):
        self.rank, self.name, self.label = rank, name, name.lower()

    def __and__(self, other: Tri) -> Tri:
        return self if self.rank <= other.rank else other

    def __or__(self, other: Tri) -> Tri:
        return self if self.rank >= other.rank else other

    def __invert__(self) -> Tri:
        return _NOT[self.rank]

    def __bool__(self) -> bool:
        raise TypeError("Tri has no implicit truth value; compare with `is Tri.TRUE`")

    def __repr__(self) -> str:
        return f"Tri.{self.name}"

    def __reduce__(self):
        return (_by_rank, (self.rank,))


Tri.FALSE = Tri(0, "FALSE")
Tri.UNKNOWN = Tri(1, "UNKNOWN")
Tri.TRUE = Tri(2, "TRUE")
_NOT = (Tri.TRUE, Tri.UNKNOWN, Tri.FALSE)
_ALL = (Tri.FALSE, Tri.UNKNOWN, Tri.TRUE)


def _by_rank(rank: int) -> Tri:
    return _ALL[rank]


def tri(value: bool | None) -> Tri:
    """Lift a Python bool (or None for unknown) into Tri."""
    if value is None:
        return Tri.UNKNOWN
    return Tri.TRUE if value else Tri.FALSE


def all_of(values) -> Tri:
    """Kleene conjunction of an iterable (TRUE for an empty one)."""
    result = Tri.TRUE
    for v in values:
        if v.rank < result.rank:
            result = v
            if result is Tri.FALSE:
                return result
    return result


def any_of(values) -> Tri:
    """Kleene disjunction of an iterable (FALSE for an empty one)."""
    result = Tri.FALSE
    for v in values:
        if v.rank > result.rank:
            result = v
            if result is Tri.TRUE:
                return result
    return result
