"""A strategy's steps, its regimen entries (folded variants with their caveats) and its month axis as text."""

from __future__ import annotations

from mcrc.engine.assessment import Assessment
from mcrc.render.outline_entries import Entry, _item, concern_lines, review_marker
from mcrc.render.structure import Fold
from mcrc.render.summary import cite_text


def step_text(st) -> str:
    """A step with its duration, interval, regimens (labels) and note: 'Preoperative systemic therapy [3 months]'."""
    extra = []
    if st.months:
        extra.append(f"{st.months:g} months")
    if st.max_months:
        extra.append(f"at most {st.max_months:g} months")
    if st.every_months:
        extra.append(f"every {st.every_months:g} months")
    if st.note:
        extra.append(st.note)
    return st.label + (f" [{'; '.join(extra)}]" if extra else "")


def _variant(r, a: Assessment | None = None) -> str:
    review = f" ({review_marker(a, r.review, r.rows)})" if a is not None and r.rows else ""
    cites = f" [{cite_text(r.citations)}]" if r.citations else ""
    return f"- {r.label}" + (f" ({r.note})" if r.note else "") + cites + review


def fold_lines(f: Fold, depth: int = 1, a: Assessment | None = None) -> list[str]:
    """A regimen entry as detail lines (two spaces of indent per level, the renderers' nesting): its title, its
    caveats (never behind the fold), its variants one level deeper."""
    pad, sub = "  " * depth, "  " * (depth + 1)
    lines = [f"{pad}- {f.title}: {f.why}"] if f.folded else [pad + _variant(f.members[0], a)]
    lines += [sub + c for c in _fold_caveats(f)]
    if f.folded:
        lines += [sub + _variant(r, a) for r in f.members]
    return lines


def _fold_caveats(f: Fold) -> list[str]:
    out = []
    for c, labels in f.caveats():
        on = f" (on {', '.join(labels)})" if f.folded else ""
        out.append(f"CAVEAT{on}: {c.label}" + (f" [{cite_text(c.citations)}]" if c.citations else ""))
    return out


def fold_entry(f: Fold, a: Assessment) -> Entry:
    """A regimen entry of the shared list: a single regimen as before; folded variants as one entry, its caveats
    on it, each variant an indented line with its own citation and review."""
    if not f.folded:
        return _item(f.members[0], a)
    rows = [r for m in f.members for r in m.rows]
    detail = _fold_caveats(f) + [_variant(r, a) for r in f.members]
    return Entry(text=f"{f.title}: {f.why}", detail=detail + concern_lines(a, rows))


def _month(m: float | None) -> str:
    return "?" if m is None else f"{m:g}"


def timeline_text(phases) -> str:
    """Compact month axis, shown only when the sources give at least one duration or interval."""
    if not any(p.duration in ("fixed", "up_to") or p.every_months for p in phases):
        return ""
    parts = []
    for p in phases:
        if p.duration == "event":
            span = f"m{_month(p.start_month)}"
        else:
            upto = "<=" if p.duration == "up_to" else ""
            span = f"m{_month(p.start_month)}-{upto}{_month(p.end_month)}"
        every = f" every {p.every_months:g} m" if p.every_months else ""
        parts.append(f"{span} {p.code}{every}")
    return "; ".join(parts)
