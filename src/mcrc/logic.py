"""Kleene three-valued logic, the semantics every backend shares.

A condition over an unknown fact is UNKNOWN, never silently false. SQL's NULL follows the same
truth tables, which is what lets the rules compile to SQL unchanged in meaning.
"""

from __future__ import annotations

from enum import Enum


class Tri(Enum):
    """A truth value: TRUE, FALSE or UNKNOWN."""

    FALSE = 0
    UNKNOWN = 1
    TRUE = 2

    def __invert__(self) -> Tri:
        return _NOT[self]

    def __and__(self, other: Tri) -> Tri:
        return self if self.value <= other.value else other

    def __or__(self, other: Tri) -> Tri:
        return self if self.value >= other.value else other

    def __bool__(self) -> bool:  # pragma: no cover - guard against accidental truthiness
        raise TypeError("Tri has no implicit truth value; compare with Tri.TRUE explicitly")

    @property
    def label(self) -> str:
        return self.name.lower()


_NOT = {Tri.TRUE: Tri.FALSE, Tri.FALSE: Tri.TRUE, Tri.UNKNOWN: Tri.UNKNOWN}


def tri(value: bool | None) -> Tri:
    """Lift a Python bool (or None for unknown) into Tri."""
    if value is None:
        return Tri.UNKNOWN
    return Tri.TRUE if value else Tri.FALSE


def all_of(values) -> Tri:
    """Kleene conjunction of an iterable (TRUE for an empty one)."""
    result = Tri.TRUE
    for v in values:
        result = result & v
        if result is Tri.FALSE:
            return result
    return result


def any_of(values) -> Tri:
    """Kleene disjunction of an iterable (FALSE for an empty one)."""
    result = Tri.FALSE
    for v in values:
        result = result | v
        if result is Tri.TRUE:
            return result
    return result
