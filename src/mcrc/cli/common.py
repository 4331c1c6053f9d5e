"""What the `mcrc` commands share: the output formats, rendering an assessment, and errors turned into exit codes."""

from __future__ import annotations

from enum import StrEnum

from mcrc.console import EXIT_ENGINE, EXIT_INPUT, EXIT_KNOWLEDGE, out
from mcrc.console import fail as _fail


class Format(StrEnum):
    text = "text"
    json = "json"
    md = "md"


def render(a, fmt: Format, trace: bool, strict: bool = False) -> str:
    from mcrc.render import render_json, render_markdown, render_text

    if fmt is Format.json:  # JSON carries both: the strict answer, and `provisional` with its assumptions
        return render_json(a, trace=trace)
    if fmt is Format.md:
        return render_markdown(a, strict=strict)
    return render_text(a, width=max(out.width, 100), strict=strict)


def guard(fn):
    """Turn the documented errors into exit codes and messages."""
    from mcrc.errors import EngineError, InputError, KnowledgeError, McrcError

    try:
        return fn()
    except InputError as exc:
        _fail(f"{exc}", EXIT_INPUT)
    except KnowledgeError as exc:
        _fail(f"{exc}", EXIT_KNOWLEDGE)
    except EngineError as exc:
        _fail(f"{exc}", EXIT_ENGINE)
    except McrcError as exc:  # pragma: no cover - every subclass is handled above
        _fail(str(exc), 1)


def knowledge(kb_dir=None):
    """The knowledge base of `--kb DIR`, or the packaged one (cached between runs); a malformed one exits 3."""
    if kb_dir:
        from mcrc.knowledge.loader import load_knowledge_dir

        return guard(lambda: load_knowledge_dir(kb_dir))
    from mcrc.knowledge import load_knowledge

    return guard(load_knowledge)
