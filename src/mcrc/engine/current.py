"""The current standard and guideline currency of an answer (decision record 0033).

*Current standard*: a newer-evidence item is shown first when its trial has a full US approval (`regular` or
`traditional`), an evidence row fired for this patient with a `differs` text (the guideline rows recommend
something else here), and the patient lies inside the approved population (`indications.yaml`). It is computed
from the evidence items already built, so it costs nothing when none fired, and it only adds: the item stays under
`evidence` and every guideline section is untouched. With newer evidence hidden no evidence row fires, so there is
none.

*Currency*: per guideline source the answer's guideline rows cite, its edition and year and the newer editions
known (sources.yaml, cited to evidence-2026's currency table). It is about the guideline sources, not newer trial
evidence, so it is the same whether newer evidence is shown or hidden.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcrc.engine.assessment import (
    Approval,
    CitationOut,
    Currency,
    CurrentStandard,
    EvidenceItem,
    GuidelineAnswer,
    NewerEdition,
    RegimenItem,
    SourceEdition,
    StrategyOut,
)
from mcrc.facts.model import Facts
from mcrc.knowledge.model import KnowledgeBase
from mcrc.logic import Tri
from mcrc.vocabulary import Term

# the approvals that make an item the current standard: a full approval (the FDA calls it regular or traditional)
FULL_APPROVALS = frozenset({"regular", "traditional"})


def approval_of(term: Term) -> Approval | None:
    """A trial term's approval as output (None when the term records none)."""
    ap = term.meta.get("approval")
    if not isinstance(ap, dict):
        return None
    date = ap.get("date")
    return Approval(agency=str(ap["agency"]), kind=ap["kind"],
                    date=date.isoformat() if isinstance(date, dt.date) else (None if date is None else str(date)),
                    indication=ap.get("indication"))


def fully_approved(term: Term) -> bool:
    return ((term.meta.get("approval") or {}).get("kind")) in FULL_APPROVALS


_EDITIONS: dict[tuple[int, str], tuple[Any, SourceEdition]] = {}


def source_edition(kb: KnowledgeBase, source: str) -> SourceEdition:
    """The (shared, never modified) edition record of a source."""
    key = (id(kb.sources), source)
    hit = _EDITIONS.get(key)
    if hit is None or hit[0] is not kb.sources:
        body = kb.sources.get(source) or {}
        hit = _EDITIONS[key] = (kb.sources, SourceEdition(source=source, edition=body.get("edition"),
                                                          year=body.get("year")))
    return hit[1]


def is_guideline(kb: KnowledgeBase, source: str) -> bool:
    return (kb.sources.get(source) or {}).get("kind") == "guideline"


_CURRENCY: dict[tuple[int, tuple[str, ...]], tuple[Any, list[Currency]]] = {}


def currency(kb: KnowledgeBase, guideline_sources: tuple[str, ...]) -> list[Currency]:
    """The currency entries for the guideline sources an answer's guideline rows cite (built once per set of
    sources; a new list each call, of shared entries)."""
    key = (id(kb.sources), guideline_sources)
    hit = _CURRENCY.get(key)
    if hit is None or hit[0] is not kb.sources:
        out = []
        for sid in guideline_sources:
            body = kb.sources.get(sid) or {}
            if body.get("kind") != "guideline":
                continue
            newer = [NewerEdition(name=str(e["name"]), year=e["year"], relation=e["relation"],
                                  citations=_cites(e.get("cite")))
                     for e in body.get("newer_editions") or []]
            out.append(Currency(source=sid, edition=body.get("edition"), year=body.get("year"), newer=newer,
                                note=body.get("currency_note")))
        if len(_CURRENCY) > 1_000:
            _CURRENCY.clear()
        hit = _CURRENCY[key] = (kb.sources, out)
    return list(hit[1])


def _cites(data: Any) -> list[CitationOut]:
    entries = data if isinstance(data, list) else [data] if data else []
    return [CitationOut(source=str(e["source"]), where=str(e["where"]), footnote=e.get("footnote")) for e in entries]


def _guideline_sources(kb: KnowledgeBase, groups) -> list[str]:
    seen: list[str] = []
    for citations in groups:
        for c in citations:
            if c.source not in seen and is_guideline(kb, c.source):
                seen.append(c.source)
    return seen


def current_standard(kb: KnowledgeBase, facts: Facts, evidence: list[EvidenceItem], regimens: list[RegimenItem],
                     strategies: list[StrategyOut], guideline_sources: tuple[str, ...]) -> list[CurrentStandard]:
    """The approved newer options that differ from this patient's guideline answer, in the order of `evidence`."""
    out: list[CurrentStandard] = []
    vocab = kb.vocabulary
    for ev in evidence:
        ap = ev.approval
        if ap is None or ap.kind not in FULL_APPROVALS or not ev.differs:
            continue
        ind = kb.indications.get(ev.code)
        if ind is None or ind.check is None or ind.check(facts.values) is not Tri.TRUE:
            continue
        # what the guideline rows give instead: their regimen options (or, without any, their strategies), and
        # the guideline sources behind those, each with its edition and year
        basis = ([r.citations for r in regimens] if regimens else [s.citations for s in strategies])
        sources = _guideline_sources(kb, basis) or [s for s in guideline_sources if is_guideline(kb, s)]
        guideline_regimens = [r.code for r in regimens] or list(dict.fromkeys(
            reg for s in strategies for st in s.steps for reg in st.regimens))
        term = vocab.get("trials", ev.code)
        option = " or ".join(vocab.get("regimens", r).label for r in ev.regimens if vocab.has("regimens", r))
        # the digest the item number refers to (the term says; else the item's first evidence citation)
        digest = term.meta.get("source") or next(
            (c.source for c in ev.citations if (kb.sources.get(c.source) or {}).get("kind") == "evidence"),
            ev.citations[0].source if ev.citations else "")
        out.append(CurrentStandard(
            code=ev.code, trial=ev.label, option=option or ev.label, regimens=list(ev.regimens), approval=ap,
            item=ev.item, source=digest, seen=list(term.meta.get("seen") or []),
            guideline=GuidelineAnswer(says=ev.differs, regimens=guideline_regimens,
                                      sources=[source_edition(kb, s) for s in sources]),
            citations=list(ev.citations), rows=list(ev.rows), caveats=list(ev.caveats), review=ev.review))
    return out
