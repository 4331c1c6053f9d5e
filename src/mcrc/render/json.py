"""JSON: the Assessment model's own stable keys (see docs/assessment-json.md)."""

from __future__ import annotations

from mcrc.engine.assessment import Assessment


def render_json(a: Assessment, trace: bool = True) -> str:
    exclude = None if trace else {"trace"}
    return a.model_dump_json(indent=2, exclude=exclude)
