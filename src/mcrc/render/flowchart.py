"""The path an Assessment took through the decision tables, as an SVG flowchart (pure Python, no graphviz).

Tables appear in evaluation order. In a table that applied, every row is listed: fired rows are
highlighted, possible rows (they would fire or not depending on facts still unknown) are marked
with a dashed amber frame, rows that did not fire are greyed. Tables that did not apply for this
patient are shown collapsed as skipped. Colour is never the only cue: each row also carries a
mark (filled dot, question mark, dash). Fills are SVG presentation attributes (allowed by the
app's Content-Security-Policy, and honoured by WeasyPrint for the PDF); the classes let the page
restyle them.
"""

from __future__ import annotations

from html import escape

from mcrc.engine.assessment import Assessment
from mcrc.knowledge.model import KnowledgeBase

WIDTH = 900
ROW_H = 18
HEAD_H = 24
SKIP_H = 24
GAP = 16
PAD = 8

STYLE = {  # class: (fill, stroke, text colour, mark, dashed)
    "fired": ("#d7f0dd", "#1d7a3a", "#0f3d1d", "\u25cf", False),
    "possible": ("#fff3cd", "#b7791f", "#5c3d00", "?", True),
    "not-fired": ("#f5f5f5", "#d0d0d0", "#8a8a8a", "\u2013", False),
    "skipped": ("#ececec", "#9a9a9a", "#6a6a6a", "", True),
}
_RESULT_CLASS = {"fired": "fired", "possible": "possible", "not_fired": "not-fired"}


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _rect(x: float, y: float, w: float, h: float, cls: str, rx: int = 3) -> str:
    fill, stroke, _, _, dashed = STYLE[cls]
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="{rx}" fill="{fill}" stroke="{stroke}"'
            f'{dash}/>')


def _legend(y: int) -> tuple[list[str], int]:
    parts = ['<g class="legend">']
    x = PAD
    for cls, text in (("fired", "fired (used in the answer)"), ("possible", "possible (depends on unknown facts)"),
                      ("not-fired", "not fired"), ("skipped", "table skipped (does not apply)")):
        mark = STYLE[cls][3]
        parts.append(f'<g class="legend-item {cls}">{_rect(x, y, 22, 14, cls)}'
                     f'<text x="{x + 11}" y="{y + 11}" text-anchor="middle" font-size="10" '
                     f'fill="{STYLE[cls][2]}">{_a(mark)}</text>'
                     f'<text x="{x + 28}" y="{y + 11}" font-size="11" fill="#222">{_a(text)}</text></g>')
        x += 28 + 7 * len(text) + 18
    parts.append("</g>")
    return parts, y + 14 + GAP


def flowchart_svg(a: Assessment, kb: KnowledgeBase | None = None, *, id_prefix: str = "flow",
                  row_link: str | None = "/kb#row-{}", compact: bool = False) -> str:
    """The SVG (a string) of the tables the engine walked for this assessment. `compact` (for print)
    draws only the fired and possible rows of each table and counts the others in one line."""
    if kb is None:
        import mcrc

        kb = mcrc.load_knowledge()
    fired = len(a.fired_rows())
    skipped = sum(1 for t in a.trace if t.applies == "false")
    title = "Path through the decision tables"
    desc = (f"{len(a.trace)} tables in evaluation order; {len(a.trace) - skipped} applied, {skipped} skipped; "
            f"{fired} rows fired, {len(a.possible)} possible.")
    body: list[str] = []
    legend, y = _legend(PAD)
    body += legend
    inner = WIDTH - 2 * PAD
    for n, t in enumerate(a.trace):
        if n:
            body.append(f'<line class="connector" x1="{WIDTH / 2}" y1="{y - GAP + 2}" x2="{WIDTH / 2}" '
                        f'y2="{y - 3}" stroke="#777" stroke-width="1.5" marker-end="url(#{id_prefix}-arrow)"/>')
        if t.applies == "false":
            text = f"{t.title} \u2014 skipped, does not apply ({t.table})"
            body.append(f'<g class="table skipped" data-table="{_a(t.table)}" data-applies="false">'
                        f'<title>{_a(text)}</title>{_rect(PAD, y, inner, SKIP_H, "skipped")}'
                        f'<text x="{PAD + 10}" y="{y + 16}" font-size="11" font-style="italic" '
                        f'fill="{STYLE["skipped"][2]}">{_a(_clip(text, 130))}</text></g>')
            y += SKIP_H + GAP
            continue
        shown = [r for r in t.rows if r.result != "not_fired"] if compact else list(t.rows)
        hidden = len(t.rows) - len(shown)
        height = HEAD_H + (len(shown) + (1 if hidden else 0)) * ROW_H + PAD
        applies = "" if t.applies == "true" else " \u2014 applies: unknown"
        head = f"{t.title}{applies}"
        body.append(f'<g class="table applied" data-table="{_a(t.table)}" data-applies="{_a(t.applies)}">'
                    f'<title>{_a(head)} ({_a(t.table)})</title>'
                    f'<rect x="{PAD}" y="{y}" width="{inner}" height="{height}" rx="4" fill="#ffffff" '
                    f'stroke="#4a5a6a"/>'
                    f'<text x="{PAD + 10}" y="{y + 16}" font-size="12" font-weight="bold" fill="#1f2d3a">'
                    f'{_a(_clip(head, 95))}</text>'
                    f'<text x="{WIDTH - PAD - 10}" y="{y + 16}" font-size="10" text-anchor="end" fill="#55606b">'
                    f'{_a(t.table)} \u00b7 {_a(t.hit)} hit</text>')
        ry = y + HEAD_H
        for r in shown:
            cls = _RESULT_CLASS[r.result]
            row = kb.rows.get(r.row)
            label = f"{r.row}" + (f" \u2014 {row.title}" if row else "") + (" (default)" if r.default else "")
            mark = STYLE[cls][3]
            weight = ' font-weight="bold"' if cls == "fired" else ""
            cell = (f'<g class="row {cls}" data-row="{_a(r.row)}" data-result="{_a(r.result)}">'
                    f'<title>{_a(r.result.replace("_", " "))}: {_a(label)}</title>'
                    f'{_rect(PAD + 8, ry + 1, inner - 16, ROW_H - 2, cls, rx=2)}'
                    f'<text x="{PAD + 20}" y="{ry + 13}" font-size="10" text-anchor="middle" '
                    f'fill="{STYLE[cls][2]}">{_a(mark)}</text>'
                    f'<text x="{PAD + 30}" y="{ry + 13}" font-size="10.5" fill="{STYLE[cls][2]}"{weight}>'
                    f'{_a(_clip(label, 140))}</text></g>')
            if row_link:
                cell = f'<a href="{_a(row_link.format(r.row))}">{cell}</a>'
            body.append(cell)
            ry += ROW_H
        if hidden:
            body.append(f'<g class="row-summary not-fired" data-hidden="{hidden}">'
                        f'<text x="{PAD + 30}" y="{ry + 13}" font-size="10.5" font-style="italic" '
                        f'fill="{STYLE["not-fired"][2]}">{STYLE["not-fired"][3]} {hidden} other '
                        f'row{"s" if hidden > 1 else ""} did not fire</text></g>')
        body.append("</g>")
        y += height + GAP
    total = y - GAP + PAD
    tid, did = f"{id_prefix}-title", f"{id_prefix}-desc"
    defs = (f'<defs><marker id="{id_prefix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="flowchart" role="img" viewBox="0 0 {WIDTH} {total}" '
            f'width="{WIDTH}" height="{total}" aria-labelledby="{tid} {did}" font-family="sans-serif">'
            f'<title id="{tid}">{_a(title)}</title><desc id="{did}">{_a(desc)}</desc>{defs}'
            + "".join(body) + "</svg>")
