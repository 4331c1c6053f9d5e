"""One documented exception tree, so callers catch what they mean.

McrcError
├── InputError            bad patient input (wrong type, impossible value)
│   └── JsonInputError        the document is not JSON mcrc accepts (syntax, encoding, size, depth, duplicate
│                             keys, NaN, huge numbers, control characters): `mcrc.strictjson`
├── KnowledgeError        a knowledge file is malformed (points at file and line)
└── EngineError           the knowledge base produced an impossible answer
    ├── HitPolicyViolation    two rows of a unique-hit table fired together
    └── SafetyViolation       an assessment broke a declared safety invariant
"""

from __future__ import annotations

from dataclasses import dataclass


class McrcError(Exception):
    """Base of every error mcrc raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One specific problem: where (a field path or file:line), what, and what is allowed."""

    where: str
    message: str
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text


class _ProblemsError(McrcError):
    headline = "problems"

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.headline} ({len(self.problems)}):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class InputError(_ProblemsError):
    """The patient input is not acceptable; nothing was assessed."""

    headline = "invalid patient input"


class JsonInputError(InputError):
    """The input is not a JSON document mcrc accepts; nothing in it was read (the API answers 400, not 422)."""

    headline = "unacceptable JSON"


class KnowledgeError(_ProblemsError):
    """A knowledge file is malformed; the knowledge base was not loaded."""

    headline = "invalid knowledge base"


class EngineError(McrcError):
    """The knowledge base produced an answer that must not be shown."""


class HitPolicyViolation(EngineError):
    def __init__(self, table_id: str, row_ids: list[str]):
        self.table_id = table_id
        self.row_ids = row_ids
        super().__init__(f"unique-hit table {table_id} fired more than one row: {', '.join(row_ids)}")


class SafetyViolation(EngineError):
    def __init__(self, violations: list[Problem]):
        self.violations = violations
        super().__init__("assessment breaks safety invariants:\n" + "\n".join(f"  - {v}" for v in violations))
