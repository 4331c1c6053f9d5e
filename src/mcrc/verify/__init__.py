"""`mcrc verify`: prove the knowledge base complete, consistent and safe over every possible patient.

The rules are translated from the same condition trees the engine runs (see encode.py) and checked
with z3; see docs/decisions/0013-verification.md for what is proven and what is not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mcrc.knowledge.model import KnowledgeBase
from mcrc.verify.checks import CHECKS, CheckResult, Failure, Verifier


@dataclass
class Report:
    kb_version: str
    results: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Failure]:
        return [f for r in self.results for f in r.failures]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def questions(self) -> int:
        return sum(r.questions for r in self.results)


def verify(kb: KnowledgeBase, progress: Callable[[str], None] | None = None) -> Report:
    started = time.perf_counter()
    v = Verifier(kb)
    report = Report(kb.version)
    for name, check in CHECKS:
        if progress:
            progress(name)
        report.results.append(check(v))
    report.seconds = time.perf_counter() - started
    return report


__all__ = ["Failure", "Report", "verify"]
