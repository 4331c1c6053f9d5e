"""The board summary's safety items: the safety warnings and caveats of the answer shown, the others counted."""

from __future__ import annotations

from mcrc.engine.assessment import Assessment, Caveat, CitationOut
from mcrc.knowledge.model import KnowledgeBase
from mcrc.render.structure import regimen_groups, severity_of
from mcrc.render.summary_patient import _plural


def safety_codes(kb: KnowledgeBase) -> set[str]:
    """The warning codes whose severity in the vocabulary is safety (decision record 0038; the loader makes every
    warning a safety invariant names one of them)."""
    return {code for code in kb.vocabulary.terms.get("warnings", {}) if severity_of(kb, code) == "safety"}


def _caveats(a: Assessment) -> dict[str, tuple[Caveat, list[str]]]:
    """Every caveat of the answer shown, once per code, with the options that carry it."""
    out: dict[str, tuple[Caveat, list[str]]] = {}
    carriers = [(r.label, r.caveats) for r in a.regimens]
    carriers += [(st.label, st.caveats) for s in a.strategies for st in s.steps]
    carriers += [(cs.option, cs.caveats) for cs in a.current_standard]
    for label, cavs in carriers:
        for c in cavs:
            entry = out.setdefault(c.code, (c, []))
            if label not in entry[1]:
                entry[1].append(label)
    return out


def safety_items(a: Assessment, kb: KnowledgeBase) -> tuple[list[tuple[str, str, list[CitationOut]]], int]:
    """(code, text, citations) of every safety warning of the answer shown (a warning or a caveat whose severity is
    safety), and how many other warnings there are (cautions and notes, under Warnings; a caveat that is a caution
    stays with the options that carry it)."""
    items, others = _safety_and_others(a, kb)
    return items, sum(others.values())


def _safety_and_others(a: Assessment, kb: KnowledgeBase):
    codes = safety_codes(kb)
    items: list[tuple[str, str, list[CitationOut]]] = []
    seen: set[str] = set()
    others = {"caution": 0, "note": 0, "caveat": 0}
    for w in a.warnings:
        if w.code in codes:
            items.append((w.code, w.label + (f" ({w.note})" if w.note else ""), w.citations))
            seen.add(w.code)
        else:
            others["note" if severity_of(kb, w.code) == "note" else "caution"] += 1
            seen.add(w.code)
    for code, (c, labels) in _caveats(a).items():
        if code in seen:
            continue
        if code not in codes:
            others["caveat"] += 1
            continue
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        items.append((code, f"{c.label} (on {shown})", c.citations))
    return items, others


def _others_text(others: dict[str, int]) -> str:
    """'2 cautions and 1 note among the warnings; 1 caveat (a caution) with the options that carry it'."""
    parts = [_plural(others[k], k) for k in ("caution", "note") if others[k]]
    out = f"{' and '.join(parts)} among the warnings" if parts else ""
    if others["caveat"]:
        n = others["caveat"]
        out += ("; " if out else "") + f"{_plural(n, 'caveat')} (caution{'s' if n > 1 else ''}) with the options " \
            f"that carry {'them' if n > 1 else 'it'}"
    return out


def _safety_section(a: Assessment, code: str, kb: KnowledgeBase) -> str:
    """Where the full answer states a safety item: the warnings, else the first kind of option carrying the caveat."""
    if any(w.code == code for w in a.warnings):
        return "warnings"
    if any(c.code == code for r in a.regimens for c in r.caveats):
        _, shared = regimen_groups(a, kb.vocabulary)
        if shared is not None and any(c.code == code for f in shared.folds for r in f.members for c in r.caveats):
            return "regimens"
        return "strategies"  # carried by a regimen a strategy names: shown under that strategy
    if any(c.code == code for s in a.strategies for st in s.steps for c in st.caveats):
        return "strategies"
    return "current-standard"
