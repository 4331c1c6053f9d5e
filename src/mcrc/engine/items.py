"""What a fired row gives, as Assessment items: citations, strategies with their timelines, merged outputs."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mcrc.engine.assessment import (
    CitationOut,
    EvidenceItem,
    FollowupItem,
    Item,
    Phase,
    Rationale,
    RegimenItem,
    StepOut,
    StrategyOut,
    TopicView,
    View,
)
from mcrc.engine.current import approval_of
from mcrc.errors import HitPolicyViolation
from mcrc.facts.history import add_months
from mcrc.facts.model import Facts
from mcrc.knowledge.model import Citation, KnowledgeBase, OutItem, Row
from mcrc.knowledge.reviews import ITEM_STATUS, ReviewBook, RowReview, combine

_SECTION_FIELD = {
    "first": "first_steps", "local": "local_treatment", "regimens": "regimens", "warnings": "warnings",
    "tests": "tests", "workup": "workup", "prognosis": "prognosis", "followup": "followup", "notes": "considerations",
    "refer": "referrals", "evidence": "evidence",
}
_VOCAB_SECTION = {
    "goal": "goals", "first": "actions", "local": "actions", "regimens": "regimens", "warnings": "warnings",
    "tests": "tests", "workup": "tests", "prognosis": "prognosis", "followup": "followup",
    "notes": "considerations", "refer": "referrals", "evidence": "trials",
}



_EVENT_CLASSES = {"emergency", "surgery_primary", "local_lung", "local_liver", "local_peritoneal", "local_palliative",
                  "mdt", "restaging"}


def timeline(steps: list[StepOut]) -> list[Phase]:
    """Lay the steps of a strategy on a time axis in months. Operations and decisions are events;
    a step without a duration in the sources has an unknown end, and what follows an unknown end
    has an unknown start (never a guessed one)."""
    phases: list[Phase] = []
    t: float | None = 0.0
    for s in steps:
        if s.action_class in _EVENT_CLASSES and s.months is None and s.max_months is None:
            phases.append(Phase(code=s.code, label=s.label, kind=s.action_class, start_month=t, end_month=t,
                                duration="event", every_months=s.every_months))
            continue
        length = s.months if s.months is not None else s.max_months
        kind = "fixed" if s.months is not None else "up_to" if s.max_months is not None else "unknown"
        end = None if t is None or length is None else t + length
        phases.append(Phase(code=s.code, label=s.label, kind=s.action_class, start_month=t, end_month=end,
                            duration=kind, every_months=s.every_months))
        t = end
    return phases


_CITE_CACHE: dict[int, tuple[tuple[Citation, ...], tuple[CitationOut, ...]]] = {}


def _cites(group: tuple[Citation, ...]) -> list[CitationOut]:
    """Output citations for a row or item, cached by identity (knowledge is immutable once loaded)."""
    hit = _CITE_CACHE.get(id(group))
    if hit is None or hit[0] is not group:
        seen: dict[Citation, CitationOut] = {}
        for c in group:
            if c not in seen:
                seen[c] = CitationOut(source=c.source, where=c.where, footnote=c.footnote)
        hit = _CITE_CACHE[id(group)] = (group, tuple(seen.values()))
    return list(hit[1])



@dataclass(frozen=True, slots=True)
class _RowParts:
    rationale: Rationale
    strategies: tuple[StrategyOut, ...]
    view: tuple[str, View] | None
    items: tuple[tuple[str, OutItem, Item], ...]  # (section, the row's output, the item without follow-up dates)
    counted: frozenset[int] = frozenset()  # strategies with a step whose months depend on the patient (MC8)


def _joined(note: str | None, more: str) -> str:
    return f"{note}; {more}" if note else more


_ROW_PARTS_CACHE: dict[int, tuple[Row, _RowParts, RowReview]] = {}



class _Builder:
    """Collects outputs in table and row order, merging duplicates (one item, several citations)."""

    def __init__(self, kb: KnowledgeBase, facts: Facts, book: ReviewBook):
        self.kb, self.vocab, self.facts, self.book = kb, kb.vocabulary, facts, book
        self.items: dict[str, dict[str, Item]] = {f: {} for f in _SECTION_FIELD.values()}
        self.goal: Item | None = None
        self.strategies: list[StrategyOut] = []
        self.rationale: list[Rationale] = []
        self.views: dict[str, list[View]] = {}
        self.counted: list[tuple[Row, int] | None] = []
        self.followup_outs: dict[str, OutItem] = {}

    def positions(self) -> list[TopicView]:
        out = []
        for topic, views in self.views.items():
            voices = {v.voice for v in views}
            stances = {v.stance for v in views}
            agreement = "single" if len(voices) < 2 else ("agree" if len(stances) == 1 else "differ")
            out.append(TopicView(topic=topic, label=self.vocab.get("topics", topic).label, agreement=agreement,
                                 views=views))
        return out

    def _item(self, section: str, out: OutItem, row: Row, review: str) -> Item:
        """The item a row's output stands for; follow-up items without dates (they are the patient's, added in
        `add_row`)."""
        term = self.vocab.get(_VOCAB_SECTION[section], out.code)
        cites = _cites(out.citations or row.citations)
        common = dict(code=out.code, label=term.label, citations=cites, rows=[row.id], note=out.note, review=review)
        if section == "regimens":
            classes = sorted(self.vocab.regimen_drug_classes(out.code))
            return RegimenItem(**common, drugs=list(term.drugs), drug_classes=classes)
        if section == "evidence":
            return EvidenceItem(**common, item=term.meta.get("item"), headline=term.definition,
                                regulatory_status=term.meta.get("status"),
                                regimens=list(term.meta.get("regimens", [])), differs=out.differs,
                                approval=approval_of(term))
        if section == "followup":
            return FollowupItem(**common, every_months=out.every_months, from_month=out.from_month,
                                until_month=out.until_month)
        return Item(**common)

    @staticmethod
    def _dates(start, out: OutItem) -> list:
        if start is None or not out.every_months or out.until_month is None:
            return []
        first = (out.from_month or 0) + out.every_months
        return [add_months(start, m) for m in range(first, out.until_month + 1, out.every_months)]

    def _row_parts(self, row: Row) -> _RowParts:
        """What a fired row contributes, built once per row: it depends on the row and the vocabulary only
        (follow-up dates aside, added per patient) and its review status (kept with the parts: a new status makes
        them again). The parts are shared between assessments, as trace entries and citations are; nothing
        modifies them (merging builds new items with `replace`)."""
        rv = self.book.get(row.id)
        hit = _ROW_PARTS_CACHE.get(id(row))
        if hit is not None and hit[0] is row and hit[2] is rv:
            return hit[1]
        review = ITEM_STATUS[rv.status]
        rationale = Rationale(row=row.id, table=row.table_id, title=row.title, note=row.note,
                              citations=_cites(row.citations))
        strategies = []
        for i, st in enumerate(row.strategies, start=1):
            steps = [StepOut(code=s.code, label=self.vocab.get("actions", s.code).label,
                             action_class=self.vocab.get("actions", s.code).klass or "", months=s.months,
                             max_months=s.max_months, regimens=list(s.regimens), note=s.note,
                             every_months=s.every_months)
                     for s in st.steps]
            strategies.append(StrategyOut(
                id=f"{row.id}#{i}", label=st.label, note=st.note, row=row.id,
                citations=_cites(st.citations or row.citations), steps=steps, timeline=timeline(steps), review=review,
            ))
        view = None
        if row.position is not None:
            pos = row.position
            view = (pos.topic, View(
                voice=pos.voice, source=row.citations[0].source if row.citations else "", stance=pos.stance,
                stance_label=self.vocab.get("stances", pos.stance).label, summary=pos.summary, row=row.id,
                citations=_cites(row.citations), review=review))
        items = tuple((section, out, self._item(section, out, row, review))
                      for section, outs in row.outputs.items() for out in outs)
        counted = frozenset(i for i, st in enumerate(row.strategies) if any(s.less_months_of for s in st.steps))
        parts = _RowParts(rationale, tuple(strategies), view, items, counted)
        if len(_ROW_PARTS_CACHE) > 10_000:
            _ROW_PARTS_CACHE.clear()
        _ROW_PARTS_CACHE[id(row)] = (row, parts, rv)
        return parts

    @staticmethod
    def _counted(facts: Facts, row: Row, strategy: StrategyOut, i: int) -> StrategyOut:
        """The strategy with the months the patient already had counted against each step's total (MC8)."""
        steps = list(strategy.steps)
        for j, spec in enumerate(row.strategies[i].steps):
            if spec.less_months_of is None:
                continue
            total, given = spec.max_months, facts.get(spec.less_months_of)
            if given is None:
                note = f"{total:g} months in total, counting what was given before surgery (not recorded)"
                steps[j] = replace(steps[j], note=_joined(steps[j].note, note))
            else:
                left = max(total - given, 0)
                note = (f"{total:g} months in total, none given before surgery" if not given else
                        f"{total:g} months in total less the {given} given before surgery" if left else
                        f"none: the {total:g} months were given before surgery")
                steps[j] = replace(steps[j], max_months=left, note=_joined(steps[j].note, note))
        return replace(strategy, steps=steps, timeline=timeline(steps))

    def add_row(self, row: Row) -> None:
        """What the row gives, without what depends on the patient: strategies whose months count what was given
        before (`counted`, finished by `_counted`) and follow-up dates (`followup_outs`, added by `_dates`)."""
        parts = self._row_parts(row)
        self.rationale.append(parts.rationale)
        for i, s in enumerate(parts.strategies):
            self.strategies.append(s)
            self.counted.append((row, i) if i in parts.counted else None)
        if parts.view is not None:
            self.views.setdefault(parts.view[0], []).append(parts.view[1])
        for section, out, item in parts.items:
            if section == "goal":
                if self.goal is not None:  # framing tables are exclusive; two goals is a knowledge bug
                    raise HitPolicyViolation("goal (across tables)", [*self.goal.rows, row.id])
                self.goal = item
                continue
            bucket = self.items[_SECTION_FIELD[section]]
            key = out.code if section != "followup" else f"{out.code}@{out.from_month}"
            if key in bucket:
                prev = bucket[key]
                merged = prev.citations + [c for c in item.citations if c not in prev.citations]
                note = prev.note if not item.note or item.note == prev.note else (
                    f"{prev.note} {item.note}" if prev.note else item.note)
                update = {"citations": merged, "rows": [*prev.rows, row.id], "note": note,
                          "review": combine(prev.review, item.review)}
                if isinstance(prev, EvidenceItem) and item.differs and item.differs != prev.differs:
                    update["differs"] = f"{prev.differs} {item.differs}" if prev.differs else item.differs
                bucket[key] = replace(prev, **update)
            else:
                bucket[key] = item
                if section == "followup":
                    self.followup_outs[key] = out  # the dates are those of the first row giving the schedule
