"""Shared vignette machinery: the V record, the check, and the registry used by the coverage test.

Each `tests/test_vignettes_*.py` module defines a module-level `VIGNETTES` list of `V`;
`tests/test_vignette_coverage.py` gathers them all and fails when a knowledge-base row has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

import mcrc

KB = mcrc.load_knowledge()


@dataclass
class V:
    """One vignette. Code lists are space-separated; section "all" means any section."""

    row: str
    name: str
    patient: dict
    must: dict[str, str] = field(default_factory=dict)
    must_not: dict[str, str] = field(default_factory=dict)
    steps: list[str] | None = None  # exact step sequences of the strategies the row contributes
    goal: str | None = None
    scope: str | None = "in_scope"  # None: not checked (add-on rows whose scope another table decides)
    not_fired: str = ""
    no_class: str = ""  # action classes that must not be recommended anywhere
    possible: str = ""  # rows that must be listed as possible
    xfail: str | None = None

    @property
    def id(self) -> str:
        return f"{self.row}:{self.name}"


def _section(a: mcrc.Assessment, section: str) -> set[str]:
    return a.codes(None if section == "all" else section)


def _recommended_classes(a: mcrc.Assessment) -> dict[str, str]:
    """Every recommended action (strategy step, first step, local treatment) with its action class."""
    out = {st.code: st.action_class for s in a.strategies for st in s.steps}
    for item in (*a.first_steps, *a.local_treatment):
        out[item.code] = KB.vocabulary.get("actions", item.code).klass or ""
    return out


def check(v: V) -> None:
    a = mcrc.assess(v.patient)
    fired = a.fired_rows()
    assert v.row in fired, f"{v.row} did not fire; fired: {fired}"
    assert not set(v.not_fired.split()) & set(fired), f"should not fire: {set(v.not_fired.split()) & set(fired)}"
    if v.scope is not None:
        assert a.scope.status == v.scope, f"scope {a.scope.status}: {a.scope.reason}"
    if v.goal is not None:
        assert a.goal is not None and a.goal.code == v.goal
    for section, codes in v.must.items():
        missing = set(codes.split()) - _section(a, section)
        assert not missing, f"{section} lacks {sorted(missing)}"
    for section, codes in v.must_not.items():
        present = set(codes.split()) & _section(a, section)
        assert not present, f"{section} should not contain {sorted(present)}"
    if v.steps is not None:
        got = [" ".join(st.code for st in s.steps) for s in a.strategies if s.row == v.row]
        assert got == v.steps
    banned = {code: k for code, k in _recommended_classes(a).items() if k in v.no_class.split()}
    assert not banned, f"actions of a forbidden class recommended: {banned}"
    missing_possible = set(v.possible.split()) - {p.row for p in a.possible}
    assert not missing_possible, f"not listed as possible: {sorted(missing_possible)}"


def param(v: V):
    marks = [pytest.mark.xfail(strict=True, reason=v.xfail)] if v.xfail else []
    return pytest.param(v, id=v.id, marks=marks)




def row_conjuncts(row) -> set:
    """(fact, value) pairs a row requires outright in its top-level conditions."""
    from mcrc.knowledge.expr import Eq, In

    out = set()
    for c in row.conditions():
        if isinstance(c, Eq):
            out.add((c.fact, c.value))
        elif isinstance(c, In) and len(c.values) == 1:
            out.add((c.fact, c.values[0]))
    return out
