"""Markdown, for tumor-board minutes and tickets."""

from __future__ import annotations

import re

from mcrc.engine.assessment import Assessment
from mcrc.render.outline import Section, footer, header, outline, summary_section


def render_markdown(a: Assessment, strict: bool = False) -> str:
    """`strict`: the strict answer (nothing assumed) instead of the provisional one, where there is one."""
    lines = [f"# {header(a, strict)}", "", *_sections(outline(a, strict)), f"<sub>{footer(a)}</sub>"]
    return "\n".join(lines) + "\n"


def render_summary_markdown(a: Assessment, strict: bool = False) -> str:
    """The board summary alone (the top of `render_markdown`), under the same header."""
    lines = [f"# {header(a, strict)}", "", *_sections([summary_section(a, strict)])]
    return "\n".join(lines).rstrip("\n") + "\n"


_MARKER = re.compile(r"(\d+\.|-) ")


def _detail(d: str) -> str:
    """A detail line as a nested list item: two leading spaces are one level deeper (outline's convention); a line
    that starts with its own marker ('1. ', '- ') keeps it."""
    body = d.lstrip(" ")
    depth = (len(d) - len(body)) // 2
    return "   " + "  " * depth + (body if _MARKER.match(body) else f"- {body}")


def _sections(sections: list[Section]) -> list[str]:
    lines: list[str] = []
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.columns:
            lines.append("| " + " | ".join(section.columns) + " |")
            lines.append("|" + "---|" * len(section.columns))
            for e in section.entries:
                cells = [*e.detail, e.cites + (f" ({e.review})" if e.review else "")]
                lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
            lines.append("")
            continue
        for n, e in enumerate(section.entries, start=1):
            bullet = f"{n}." if section.numbered else "-"
            cite = f" _[{e.cites}]_" if e.cites else ""
            review = f" ({e.review})" if e.review else ""
            lines.append(f"{bullet} {e.text}{cite}{review}")
            lines += [_detail(d) for d in e.detail]
        lines.append("")
    return lines
