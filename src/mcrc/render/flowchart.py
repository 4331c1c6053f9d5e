"""The path an Assessment took through the decision tables: the decision path (the default picture) and the full
trace, an SVG flowchart (pure Python, no graphviz).

The decision path (`decision_path`, drawn as HTML by `decision_path_html`, decision record 0039) keeps only what a
board reads on a guideline page: the tables that applied, in evaluation order, and in each the rows that fired, with
the patient's values that made each fire on the edge into it ("RAS status: wild-type, Side of the primary: left"),
and the rows still possible (waiting on an unknown fact) as one open branch per table, with what they wait for.
Captions are words (the table's and the row's titles, the fact catalog's descriptions); ids stay as links and data
attributes. It is HTML, not SVG, so that it reflows on a phone and breaks across PDF pages instead of being cut.

The full trace (`flowchart_svg`): tables appear in evaluation order. In a table that applied, every row is
listed: fired rows are highlighted, possible rows (they would fire or not depending on facts still unknown) are marked
with a dashed amber frame, rows that did not fire are greyed. Tables that did not apply for this
patient are shown collapsed as skipped. Colour is never the only cue: each row also carries a
mark (filled dot, question mark, dash). Fills are SVG presentation attributes (allowed by the
app's Content-Security-Policy, and honoured by WeasyPrint for the PDF); the classes let the page
restyle them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Any

from mcrc.engine.assessment import Assessment
from mcrc.engine.branches import value_words
from mcrc.facts.catalog import FACTS
from mcrc.knowledge.expr import CMP_OPS, And, Cmp, Eq, Expr, In, Known, Not, Or
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
# the tallest part of the full trace in the PDF, in drawing units: the drawing's 900 units span the A4 text width
# (about 180 mm), so 1150 units are about 230 mm, less than a page's 267 mm of text height (print.css)
TRACE_PAGE_HEIGHT = 1150
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
    """The SVG (a string) of the tables the engine walked for this assessment (the full trace). `compact` (for
    print) draws only the fired and possible rows of each table and counts the others in one line."""
    return flowchart_svgs(a, kb, id_prefix=id_prefix, row_link=row_link, compact=compact)[0]


def flowchart_svgs(a: Assessment, kb: KnowledgeBase | None = None, *, id_prefix: str = "flow",
                   row_link: str | None = "/kb#row-{}", compact: bool = False,
                   max_height: float | None = None) -> list[str]:
    """The full trace as one SVG, or, with `max_height` (in the drawing's units), as several SVGs each at most
    that tall (one table taller than that keeps a part of its own), split between tables: the PDF lays them out
    one after another and breaks pages between them, so no part of the picture is cut at a page's end."""
    if kb is None:
        import mcrc

        kb = mcrc.load_knowledge()
    fired = len(a.fired_rows())
    skipped = sum(1 for t in a.trace if t.applies == "false")
    title = "Path through the decision tables: the full trace"
    desc = (f"{len(a.trace)} tables in evaluation order; {len(a.trace) - skipped} applied, {skipped} skipped; "
            f"{fired} rows fired, {len(a.possible)} possible.")
    legend, y = _legend(PAD)
    blocks: list[tuple[float, float, list[str]]] = [(0, y - GAP, legend)]  # (top, bottom, elements)
    inner = WIDTH - 2 * PAD
    for n, t in enumerate(a.trace):
        body: list[str] = []
        top = y - GAP if n else y
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
            blocks.append((top, y - GAP, body))
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
        blocks.append((top, y - GAP, body))
    parts: list[list[tuple[float, float, list[str]]]] = [[]]
    for b in blocks:
        if max_height and parts[-1] and b[1] - parts[-1][0][0] + PAD > max_height:
            parts.append([])
        parts[-1].append(b)
    out = []
    for n, part in enumerate(parts, start=1):
        top, bottom = part[0][0], part[-1][1] + PAD
        suffix = "" if len(parts) == 1 else f"-{n}"
        tid, did = f"{id_prefix}{suffix}-title", f"{id_prefix}{suffix}-desc"
        name = title if len(parts) == 1 else f"{title}, part {n} of {len(parts)}"
        defs = (f'<defs><marker id="{id_prefix}{suffix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                f'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker>'
                "</defs>")
        elements = "".join(x for b in part for x in b[2])
        if suffix:
            elements = elements.replace(f"url(#{id_prefix}-arrow)", f"url(#{id_prefix}{suffix}-arrow)")
        out.append(f'<svg xmlns="http://www.w3.org/2000/svg" class="flowchart" role="img" '
                   f'viewBox="0 {top:g} {WIDTH} {bottom - top:g}" width="100%" aria-labelledby="{tid} {did}" '
                   f'font-family="sans-serif" data-part="{n}" data-parts="{len(parts)}">'
                   f'<title id="{tid}">{_a(name)}</title><desc id="{did}">{_a(desc)}</desc>{defs}{elements}</svg>')
    return out


# ---- the decision path (the default picture) ---------------------------------------------------------------------

_OP_WORDS = {"lt": "<", "le": "\u2264", "gt": ">", "ge": "\u2265", "ne": "\u2260"}
assert set(_OP_WORDS) == set(CMP_OPS)
_LONG_ASIDE = re.compile(r"\s*\((?:[^()]*(?:CONVENTIONS|see |'|\u2018)[^()]*|[^()]{25,})\)")


def fact_words(fact: str) -> str:
    """A fact in the catalog's words, without the asides written for the knowledge base's authors (a long
    parenthesis, a reference to CONVENTIONS, what follows a semicolon); short asides such as units stay."""
    spec = FACTS.get(fact)
    if spec is None:
        return fact.replace("_", " ")
    return _LONG_ASIDE.sub("", spec.doc.split(";")[0]).strip()


def value_text(value: Any, kb: KnowledgeBase | None = None) -> str:
    """A fact's value in words: yes/no, wild-type, 25, a regimen's label, "not recorded" for unknown (never a
    guess)."""
    if value is None:
        return "not recorded"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str) and kb is not None and kb.vocabulary.has("regimens", value):
        return kb.vocabulary.get("regimens", value).label
    return value_words(value)


def condition_words(e: Expr, kb: KnowledgeBase | None = None) -> str:
    """A condition in words: "RAS status (KRAS and NRAS): wild-type", "Number of ... \u2265 2"."""
    if isinstance(e, Eq):
        return f"{fact_words(e.fact)}: {value_text(e.value, kb)}"
    if isinstance(e, In):
        return f"{fact_words(e.fact)}: {' or '.join(value_text(v, kb) for v in e.values)}"
    if isinstance(e, Cmp):
        return f"{fact_words(e.fact)} {_OP_WORDS[e.op]} {value_text(e.value, kb)}"
    if isinstance(e, Known):
        return f"{fact_words(e.fact)} {'recorded' if e.known else 'not recorded'}"
    if isinstance(e, Not):
        return f"not ({condition_words(e.item, kb)})"
    if not e.items:
        return "always"
    joined = (" and " if isinstance(e, And) else " or ").join(
        f"({condition_words(i, kb)})" if isinstance(i, And | Or) and len(i.items) > 1 else condition_words(i, kb)
        for i in e.items)
    return joined


def _facts_in_order(e: Expr) -> list[str]:
    if isinstance(e, And | Or):
        return [f for i in e.items for f in _facts_in_order(i)]
    if isinstance(e, Not):
        return _facts_in_order(e.item)
    return [e.fact]


@dataclass
class PathRow:
    """One row on the path: fired (with the patient's values that made it fire) or possible (with the conditions
    it waits on, whose facts are unknown)."""

    row: str
    title: str
    result: str  # "fired" or "possible"
    because: list[str] = field(default_factory=list)  # "fact: patient's value", for the conditions that held
    waits: list[str] = field(default_factory=list)  # the conditions still unknown, in words
    waits_on: list[str] = field(default_factory=list)  # their facts, in words
    default: bool = False


@dataclass
class PathStep:
    table: str
    title: str
    applies: str  # "true" or "unknown"
    fired: list[PathRow]
    possible: list[PathRow]

    def waits_on(self) -> list[str]:
        return list(dict.fromkeys(f for r in self.possible for f in r.waits_on))


@dataclass
class DecisionPath:
    steps: list[PathStep]
    quiet: list[PathStep]  # tables that applied but where no row fired or is possible
    skipped: int  # tables that did not apply


def decision_path(a: Assessment, kb: KnowledgeBase) -> DecisionPath:
    """The tables that applied (in evaluation order) with the rows that fired and the rows still possible."""
    steps: list[PathStep] = []
    quiet: list[PathStep] = []
    skipped = 0
    for t in a.trace:
        if t.applies == "false":
            skipped += 1
            continue
        fired: list[PathRow] = []
        possible: list[PathRow] = []
        for r in t.rows:
            if r.result == "not_fired":
                continue
            row = kb.rows.get(r.row)
            exprs = row.conditions() if row is not None else ()
            if row is not None and row.when == And(()):
                exprs = ()
            results = [c.result for c in r.conditions]
            if len(results) != len(exprs):  # a trace from another knowledge base: words from the trace alone
                results, exprs = [], ()
            because = list(dict.fromkeys(
                f"{fact_words(f)}: {value_text(a.facts.get(f), kb)}"
                for e, res in zip(exprs, results, strict=True) if res == "true" for f in _facts_in_order(e)))
            unknown = [e for e, res in zip(exprs, results, strict=True) if res == "unknown"]
            item = PathRow(row=r.row, title=row.title if row else r.row, result=r.result, because=because,
                           waits=[condition_words(e, kb) for e in unknown],
                           waits_on=list(dict.fromkeys(fact_words(f) for e in unknown for f in _facts_in_order(e))),
                           default=r.default)
            (fired if r.result == "fired" else possible).append(item)
        step = PathStep(table=t.table, title=t.title, applies=t.applies, fired=fired, possible=possible)
        (steps if fired or possible else quiet).append(step)
    return DecisionPath(steps=steps, quiet=quiet, skipped=skipped)


def _edge(r: PathRow) -> str:
    if r.default and not r.because:
        return "no other row of this table applies"
    if not r.because:
        return "every patient this table applies to"
    return ("no other row applies; " if r.default else "") + " \u00b7 ".join(r.because)


def decision_path_html(a: Assessment, kb: KnowledgeBase | None = None, *, pdf: bool = False,
                       row_link: str | None = "/kb#row-{}") -> str:
    """The decision path as HTML (an ordered list of steps, styled by pictures.css as boxes and arrows): each step
    is a table that applied, its title in words; each fired row is an arrow labelled with the patient's values
    that made it fire, pointing at a box with the row's title; the rows still possible are one open branch (dashed)
    naming what they wait on, listed in a <details> on the page (in the PDF, "Missing information" lists them)."""
    if kb is None:
        import mcrc

        kb = mcrc.load_knowledge()
    path = decision_path(a, kb)

    def out(r: PathRow) -> str:
        mark = "\u25cf" if r.result == "fired" else "?"
        title = f'<span class="path-mark" aria-hidden="true">{mark}</span> {escape(r.title)}'
        if row_link and not pdf:
            return (f'<a class="path-out" href="{_a(row_link.format(r.row))}" title="{_a(r.row)}">{title}</a>')
        return f'<span class="path-out" title="{_a(r.row)}">{title}</span>'

    parts = [f'<ol class="decision-path" data-tables="{len(path.steps)}">']
    for n, step in enumerate(path.steps, start=1):
        applies = ('<span class="path-applies">applies only if facts still unknown allow it</span>'
                   if step.applies == "unknown" else "")
        parts.append(f'<li class="path-step" data-table="{_a(step.table)}" data-applies="{_a(step.applies)}">'
                     f'<p class="path-table" title="{_a(step.table)}"><span class="path-n">{n}</span> '
                     f'<span class="path-table-title">{escape(step.title)}</span>{applies}</p>'
                     '<ul class="path-rows">')
        for r in step.fired:
            parts.append(f'<li class="path-row fired" data-row="{_a(r.row)}" data-result="fired">'
                         f'<p class="path-edge"><span class="path-because">because</span> {escape(_edge(r))}</p>'
                         f'{out(r)}</li>')
        if step.possible:
            waits = "; ".join(step.waits_on())
            n_rows = len(step.possible)
            head = (f'<span class="path-because">open</span> {n_rows} row{"s" if n_rows > 1 else ""} could still '
                    f'apply once known: {escape(waits)}')
            rows = "".join(
                f'<li class="path-row possible" data-row="{_a(r.row)}" data-result="possible">'
                f'<p class="path-edge"><span class="path-because">if</span> {escape(" and ".join(r.waits))}</p>'
                f'{out(r)}</li>' for r in step.possible)
            if pdf:  # each possible row is listed under "Missing information" (title and what it needs)
                body = (f'<p class="path-edge" data-rows="{_a(" ".join(r.row for r in step.possible))}">{head} '
                        "(listed under Missing information)</p>")
            else:
                body = (f'<details class="path-open-list"><summary class="path-edge">{head}</summary>'
                        f'<ul class="path-open-rows">{rows}</ul></details>')
            parts.append(f'<li class="path-open" data-possible="{n_rows}">{body}</li>')
        parts.append("</ul></li>")
    parts.append("</ol>")
    if path.quiet:
        names = "; ".join(f'<span class="path-quiet-table" data-table="{_a(s.table)}" title="{_a(s.table)}">'
                          f"{escape(s.title)}</span>" for s in path.quiet)
        parts.append(f'<p class="path-quiet">Also applied, no row fired: {names}.</p>')
    fired = sum(len(s.fired) for s in path.steps)
    possible = sum(len(s.possible) for s in path.steps)
    parts.append(f'<p class="path-count">{len(path.steps) + len(path.quiet)} tables applied, {path.skipped} did '
                 f'not apply; {fired} row{"s" if fired != 1 else ""} fired, {possible} possible.</p>')
    return "".join(parts)
