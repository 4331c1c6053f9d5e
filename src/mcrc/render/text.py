"""Terminal view with Rich: what to do, in order, each line with its citation."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from mcrc.engine.assessment import Assessment
from mcrc.render.outline import Section, footer, header, outline, summary_section

_STYLE = {"default": "bold cyan", "warning": "bold red", "muted": "bold yellow", "summary": "bold magenta"}


def _sections(sections: list[Section]) -> list:
    parts: list = []
    for section in sections:
        parts.append(Text(section.title, style=_STYLE[section.style]))
        for n, e in enumerate(section.entries, start=1):
            bullet = f"{n}. " if section.numbered else "- "
            parts.append(Text("  " + bullet + e.text))
            if e.cites or e.review:
                cite = f"[{e.cites}]" if e.cites else ""
                review = f"({e.review})" if e.review else ""
                parts.append(Text(f"      {cite}{' ' if cite and review else ''}{review}", style="dim"))
            for d in ([] if section.columns else e.detail):
                parts.append(Text(f"      {d}", style="italic"))
        parts.append(Text(""))
    return parts


def build(a: Assessment, strict: bool = False) -> Group:
    return Group(*_sections(outline(a, strict)), Text(footer(a), style="dim"))


def render_text(a: Assessment, width: int = 110, color: bool = False, strict: bool = False) -> str:
    """`strict`: the strict answer (nothing assumed) instead of the provisional one, where there is one."""
    console = Console(width=width, record=True, color_system="standard" if color else None, file=_Null())
    console.print(Panel(build(a, strict), title=header(a, strict), title_align="left"))
    return console.export_text(styles=color)


def render_summary_text(a: Assessment, width: int = 110, strict: bool = False) -> str:
    """The board summary alone (the top of `render_text`), under the same header."""
    console = Console(width=width, record=True, color_system=None, file=_Null())
    console.print(Panel(Group(*_sections([summary_section(a, strict)])[:-1]), title=header(a, strict),
                        title_align="left"))
    return console.export_text(styles=False)


class _Null:
    def write(self, _s: str) -> int:
        return 0

    def flush(self) -> None:
        pass
