"""Fact-consistency constraints (knowledge/data/constraints.yaml), evaluated on concrete facts."""

from __future__ import annotations

from mcrc.facts.model import Facts
from mcrc.knowledge.expr import compile_expr
from mcrc.knowledge.model import KnowledgeBase
from mcrc.logic import Tri


def violated_constraints(kb: KnowledgeBase, facts: Facts) -> list[str]:
    """Ids of the constraints these facts break (empty for every real patient)."""
    bad = []
    for c in kb.constraints:
        if compile_expr(c.if_)(facts.values) is Tri.TRUE and compile_expr(c.then)(facts.values) is not Tri.TRUE:
            bad.append(c.id)
    return bad
