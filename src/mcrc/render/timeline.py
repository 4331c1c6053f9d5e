"""A strategy's treatment timeline as an SVG (pure Python): a Gantt chart when the sources give durations, an
ordered sequence of numbered steps when they give none.

A timeline with no duration at all (every phase "unknown" or an "event") is drawn as a sequence: numbered boxes,
top to bottom, joined by arrows, operations and decisions marked as such (decision record 0039); there is no time
axis to read a month into. Otherwise: one lane per phase, in order. Phases whose start and end the engine knows
(durations the sources give) are drawn to scale on a month axis; a phase without a duration in the sources is drawn
with a dashed, open end and the words "duration not given", and everything after it sits past the scaled
axis: the picture never invents a month the sources do not give. Operations and decisions are
events (diamonds). Repeats ("every 3 months") are written beside the bar.
"""

from __future__ import annotations

from html import escape

from mcrc.engine.assessment import Phase, StrategyOut
from mcrc.render.outline import timeline_text

WIDTH = 900
LABEL_W = 300
LANE_H = 26
AXIS_H = 30
PAD = 8
UNKNOWN_W = 110  # drawn width of a phase whose duration the sources do not give
EVENT_W = 16

STYLE = {  # duration kind: (fill, stroke, dashed)
    "fixed": ("#cfe3f7", "#2b6cb0", False),
    "up_to": ("#e3eefa", "#2b6cb0", True),
    "unknown": ("#f3f3f3", "#8a8a8a", True),
    "event": ("#6b46c1", "#44337a", False),
}


def _a(value: object) -> str:
    return escape(str(value), quote=True)


def _months(v: float | None) -> str:
    return "?" if v is None else f"{v:g}"


def _scale(phases: list[Phase], plot_w: float) -> tuple[float, float]:
    """Pixels per month and the last month drawn to scale."""
    known_end = max((p.end_month for p in phases if p.end_month is not None), default=0.0)
    known_end = max(known_end, max((p.start_month for p in phases if p.start_month is not None), default=0.0))
    reserved = sum(UNKNOWN_W for p in phases if p.duration == "unknown" or p.start_month is None) + EVENT_W
    if known_end <= 0:
        return 0.0, 0.0
    return max(3.0, min(40.0, (plot_w - reserved) / known_end)), known_end


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


SEQ_W = 360  # the sequence is narrow: scaled to a 390 px phone its 13-unit text stays about 11 px
SEQ_CHARS = 36
SEQ_LINE = 17
SEQ_GAP = 22


def is_sequence(strategy: StrategyOut) -> bool:
    """True when the sources give no duration for any phase: the timeline is an order of steps, not a schedule."""
    return bool(strategy.timeline) and all(p.duration in ("unknown", "event") for p in strategy.timeline)


def sequence_svg(strategy: StrategyOut, number: int = 1, *, id_prefix: str | None = None) -> str:
    """The steps of a strategy without durations as an ordered sequence: numbered boxes joined by arrows."""
    prefix = id_prefix or f"timeline-{number}"
    body: list[str] = []
    y = PAD
    box_x, box_w = 46, SEQ_W - 46 - PAD
    for i, p in enumerate(strategy.timeline):
        lines = _wrap(p.label, SEQ_CHARS)
        notes = []
        if p.duration == "event":
            notes.append("operation or decision")
        if p.every_months:
            notes.append(f"every {p.every_months:g} months")
        h = 10 + SEQ_LINE * (len(lines) + (1 if notes else 0))
        cy = y + h / 2
        if i:
            body.append(f'<line class="seq-arrow" x1="{box_x + 24}" y1="{y - SEQ_GAP + 2}" x2="{box_x + 24}" '
                        f'y2="{y - 2}" stroke="#55606b" stroke-width="1.5" marker-end="url(#{prefix}-arrow)"/>')
        kind = "event" if p.duration == "event" else "unknown"
        what = "operation or decision, time not given" if kind == "event" else "duration not given by the sources"
        every = f", every {p.every_months:g} months" if p.every_months else ""
        parts = [f'<g class="phase step {kind}" data-code="{_a(p.code)}" data-duration="{_a(p.duration)}" '
                 f'data-step="{i + 1}"><title>{i + 1}. {_a(p.label)}: {what}{every}</title>']
        if kind == "event":
            parts.append(f'<path class="marker" d="M22,{cy - 15} L37,{cy} L22,{cy + 15} L7,{cy} z" '
                         f'fill="#ede9fe" stroke="#44337a"/>')
        else:
            parts.append(f'<circle class="marker" cx="22" cy="{cy}" r="14" fill="#cfe3f7" stroke="#2b6cb0"/>')
        parts.append(f'<text x="22" y="{cy + 4.5}" font-size="13" font-weight="bold" text-anchor="middle" '
                     f'fill="#1f2d3a">{i + 1}</text>')
        parts.append(f'<rect class="bar" x="{box_x}" y="{y}" width="{box_w}" height="{h}" rx="4" fill="#ffffff" '
                     f'stroke="{"#44337a" if kind == "event" else "#2b6cb0"}"/>')
        ty = y + 5 + 13
        for line in lines:
            parts.append(f'<text x="{box_x + 8}" y="{ty}" font-size="13" fill="#1f2d3a">{_a(line)}</text>')
            ty += SEQ_LINE
        if notes:
            parts.append(f'<text x="{box_x + 8}" y="{ty}" font-size="11.5" fill="#55606b">{_a(", ".join(notes))}'
                         "</text>")
        parts.append("</g>")
        body.append("".join(parts))
        y += h + SEQ_GAP
    height = y - SEQ_GAP + PAD
    name = strategy.label or f"strategy {number}"
    title = f"Steps of strategy {number} in order: {name}"
    desc = timeline_text(strategy.timeline) or "Steps in order; no durations are given by the sources."
    tid, did = f"{prefix}-title", f"{prefix}-desc"
    defs = (f'<defs><marker id="{prefix}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#55606b"/></marker></defs>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline sequence" role="img" '
            f'viewBox="0 0 {SEQ_W} {height:g}" width="100%" aria-labelledby="{tid} {did}" font-family="sans-serif" '
            f'data-strategy="{_a(strategy.id)}"><title id="{tid}">{_a(title)}</title><desc id="{did}">{_a(desc)}'
            f"</desc>{defs}" + "".join(body) + "</svg>")


def timeline_svg(strategy: StrategyOut, number: int = 1, *, id_prefix: str | None = None) -> str:
    """The SVG (a string) of one strategy's timeline; `number` is its place among the alternatives. Without any
    duration it is the ordered sequence (`sequence_svg`); with durations, the Gantt chart on a month axis."""
    if is_sequence(strategy):
        return sequence_svg(strategy, number, id_prefix=id_prefix)
    prefix = id_prefix or f"timeline-{number}"
    phases = strategy.timeline
    x0 = LABEL_W + PAD
    plot_w = WIDTH - x0 - PAD
    per_month, known_end = _scale(phases, plot_w)
    lanes: list[str] = []
    cursor = float(x0)
    y = AXIS_H
    for i, p in enumerate(phases):
        fill, stroke, dashed = STYLE[p.duration if p.start_month is not None or p.duration == "event" else "unknown"]
        cls = f"phase {p.duration.replace('_', '-')}" + (" start-unknown" if p.start_month is None else "")
        x = x0 + p.start_month * per_month if p.start_month is not None else cursor
        if p.duration == "event":
            what = f"event at month {_months(p.start_month)}" if p.start_month is not None else "event, time not given"
        elif p.end_month is not None and p.start_month is not None:
            bound = "up to " if p.duration == "up_to" else ""
            what = f"months {_months(p.start_month)} to {bound}{_months(p.end_month)}"
        else:
            what = "duration not given by the sources"
        every = f", every {p.every_months:g} months" if p.every_months else ""
        tip = f"{i + 1}. {p.label}: {what}{every}"
        label_text = p.label if len(p.label) <= 46 else p.label[:45] + "\u2026"
        parts = [f'<g class="{cls}" data-code="{_a(p.code)}" data-duration="{_a(p.duration)}" '
                 f'data-start="{_a(_months(p.start_month))}" data-end="{_a(_months(p.end_month))}">'
                 f"<title>{_a(tip)}</title>",
                 f'<text x="{PAD}" y="{y + 17}" font-size="11" fill="#1f2d3a">{i + 1}. {_a(label_text)}</text>']
        cy = y + LANE_H / 2
        if p.duration == "event":
            parts.append(f'<path class="marker" d="M{x},{cy - 7} L{x + 7},{cy} L{x},{cy + 7} L{x - 7},{cy} z" '
                         f'fill="{fill}" stroke="{stroke}"/>')
            end_x = x + EVENT_W / 2
            note_x = x + 12
        else:
            if p.end_month is not None and p.start_month is not None:
                w = max(4.0, (p.end_month - p.start_month) * per_month)
            else:
                w = UNKNOWN_W
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            parts.append(f'<rect class="bar" x="{x:.1f}" y="{y + 5}" width="{w:.1f}" height="{LANE_H - 10}" rx="2" '
                         f'fill="{fill}" stroke="{stroke}"{dash}/>')
            end_x = x + w
            note_x = end_x + 6
            if p.duration == "unknown" or p.end_month is None:
                parts.append(f'<text x="{x + 6:.1f}" y="{y + 17}" font-size="9.5" fill="#555">'
                             "duration not given</text>")
        note = " ".join(s for s in ((f"\u2264 {_months(p.end_month)} m" if p.duration == "up_to" else ""),
                                    (f"every {p.every_months:g} m" if p.every_months else "")) if s)
        if note:
            parts.append(f'<text x="{note_x:.1f}" y="{y + 17}" font-size="9.5" fill="#2b4a6b">{_a(note)}</text>')
        parts.append("</g>")
        lanes.append("".join(parts))
        cursor = max(cursor, end_x)
        y += LANE_H
    height = y + PAD
    axis = [f'<line class="axis" x1="{x0}" y1="{AXIS_H - 6}" x2="{WIDTH - PAD}" y2="{AXIS_H - 6}" stroke="#999"/>']
    if per_month:
        step = 1 if known_end <= 12 else 3 if known_end <= 36 else 6
        m = 0.0
        while m <= known_end + 1e-9:
            tx = x0 + m * per_month
            axis.append(f'<line class="tick" x1="{tx:.1f}" y1="{AXIS_H - 10}" x2="{tx:.1f}" y2="{AXIS_H - 2}" '
                        f'stroke="#999"/><text x="{tx:.1f}" y="{AXIS_H - 13}" font-size="9" text-anchor="middle" '
                        f'fill="#555">{m:g}</text>')
            m += step
        axis.append(f'<text x="{PAD}" y="{AXIS_H - 13}" font-size="10" fill="#555">months from the start</text>')
    else:
        axis.append(f'<text x="{PAD}" y="{AXIS_H - 13}" font-size="10" fill="#555">order of steps (the sources '
                    "give no durations for this strategy)</text>")
    name = strategy.label or f"strategy {number}"
    title = f"Timeline of strategy {number}: {name}"
    desc = timeline_text(phases) or "Steps in order; no durations are given by the sources."
    tid, did = f"{prefix}-title", f"{prefix}-desc"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" aria-labelledby="{tid} {did}" font-family="sans-serif" '
            f'data-strategy="{_a(strategy.id)}"><title id="{tid}">{_a(title)}</title><desc id="{did}">{_a(desc)}'
            "</desc>" + "".join(axis) + "".join(lanes) + "</svg>")
