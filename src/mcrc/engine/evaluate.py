"""Evaluate the decision tables over Facts with Kleene logic and assemble the Assessment.

A row *fires* when its table applies and all its conditions are TRUE; it is *possible* when the
result is UNKNOWN (filling unknown facts could make it fire). A default row fires when its table
applies and no other row of the table fired, so every patient in scope gets an answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mcrc.engine.assessment import (
    Assessment,
    CitationOut,
    ConditionTrace,
    EvidenceItem,
    FollowupItem,
    Item,
    Phase,
    PossibleRow,
    Provenance,
    Rationale,
    RegimenItem,
    RowTrace,
    Scope,
    StepOut,
    StrategyOut,
    TableTrace,
    TopicView,
    UnknownFact,
    View,
)
from mcrc.engine.caveats import active_rules, apply_rules
from mcrc.engine.current import approval_of, currency, current_standard
from mcrc.errors import HitPolicyViolation
from mcrc.facts.catalog import FACTS
from mcrc.facts.derive import add_months
from mcrc.facts.model import Facts
from mcrc.knowledge.compile import compiled as compiled_knowledge
from mcrc.knowledge.compile import compiled_table
from mcrc.knowledge.model import Citation, KnowledgeBase, OutItem, Row, Table
from mcrc.knowledge.reviews import ITEM_STATUS, ReviewBook, RowReview, combine
from mcrc.logic import Tri

ENGINE_VERSION = "0.1.0"
_T, _F, _U = Tri.TRUE, Tri.FALSE, Tri.UNKNOWN
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


_NONE: frozenset[str] = frozenset()  # the unknown facts of a row that is not possible (shared, never modified)


@dataclass(slots=True)
class RowResult:
    row: Row
    result: Tri
    conditions: tuple[Tri, ...]  # one result per top-level condition, in row.checks order
    unknown_facts: set[str] | frozenset[str]


Evaluated = list[tuple[Table, Tri, "list[RowResult] | None"]]
_TABLE_FACTS: dict[int, tuple[Table, frozenset[str]]] = {}


def table_facts(table: Table) -> frozenset[str]:
    """Every fact a table reads (its applies condition and all its rows), cached per table."""
    hit = _TABLE_FACTS.get(id(table))
    if hit is None or hit[0] is not table:
        names = set(table.applies_facts)
        for row in table.rows:
            for group in row.check_facts:
                names |= group
        hit = _TABLE_FACTS[id(table)] = (table, frozenset(names))
    return hit[1]


_READERS: dict[int, tuple[KnowledgeBase, dict[str, tuple[int, ...]]]] = {}


def fact_readers(kb: KnowledgeBase) -> dict[str, tuple[int, ...]]:
    """Per fact, the positions of the tables that read it (cached per knowledge base): a changed fact makes only
    these tables worth evaluating again."""
    hit = _READERS.get(id(kb))
    if hit is None or hit[0] is not kb:
        by_fact: dict[str, list[int]] = {}
        for i, t in enumerate(kb.tables):
            for f in table_facts(t):
                by_fact.setdefault(f, []).append(i)
        hit = _READERS[id(kb)] = (kb, {f: tuple(ix) for f, ix in by_fact.items()})
    return hit[1]


def evaluate_rows(kb: KnowledgeBase, facts: Facts, show_evidence: bool = True,
                  previous: Evaluated | None = None, changed: frozenset[str] | set[str] = frozenset()) -> Evaluated:
    """Per table: whether it applies, and each row's result with its per-condition results.
    A table that does not apply fires nothing; its rows are not evaluated (results is None).
    With `show_evidence` off, tables of newer-evidence sources are treated as not applying.
    `previous`: the results for facts that differ from these only in `changed`; a table that reads none of the
    changed facts keeps its previous result (the provisional answer and the branches are evaluated this way)."""
    values = facts.values
    out: Evaluated = []
    for i, table in enumerate(kb.tables):
        if previous is not None and not (changed & table_facts(table)):
            out.append(previous[i])
        else:
            out.append(evaluate_table(table, values, show_evidence))
    return out


def evaluate_table(table: Table, values: dict, show_evidence: bool = True) -> tuple[Table, Tri, list[RowResult] | None]:
    """One table over the fact values: whether it applies, and each row's result (see evaluate_rows)."""
    if not show_evidence and table.evidence:
        return (table, _F, None)
    applies = table.applies_check(values)
    if applies is _F:
        return (table, applies, None)
    results: list[RowResult] = []
    append = results.append
    any_fired = False
    for row in table.rows:
        if row.default:
            append(RowResult(row, _F, (), _NONE))
            continue
        # conditions are evaluated in order until one is FALSE (the trace shows those evaluated)
        evaluated: list[Tri] = []
        res = applies
        for check in row.fns:
            r = check(values)
            evaluated.append(r)
            if r is _F:
                res = _F
                break
            if r is _U:  # r and res are TRUE or UNKNOWN here: their conjunction is UNKNOWN if either is
                res = _U
        conds = tuple(evaluated)
        if res is _U:
            unknown: set[str] = set()
            if applies is _U:
                unknown |= {f for f in table.applies_facts if values.get(f) is None}
            for names, r in zip(row.check_facts, conds, strict=False):
                if r is _U:
                    unknown |= {f for f in names if values.get(f) is None}
            append(RowResult(row, res, conds, unknown))
            continue
        if res is _T:
            any_fired = True
        append(RowResult(row, res, conds, _NONE))
    for rr in results:
        if rr.row.default:
            rr.result = _T if applies is _T and not any_fired else _F
    if table.hit == "unique":
        fired = [rr.row.id for rr in results if rr.result is _T]
        if len(fired) > 1:
            raise HitPolicyViolation(table.id, fired)
    return (table, applies, results)


def fired_in_table(table: Table, values: dict, show_evidence: bool = True) -> list[Row]:
    """Only the rows of one table that fire (defaults included), without the per-condition results and unknown
    facts evaluate_table records: what a hypothetical answer (a branch) needs, at a fraction of the cost."""
    if not show_evidence and table.evidence:
        return []
    applies = table.applies_check(values)
    if applies is not _T:
        return []
    fired: list[Row] = []
    default = None
    for row in table.rows:
        if row.default:
            default = row
            continue
        for check in row.fns:
            if check(values) is not _T:
                break
        else:
            fired.append(row)
    if table.hit == "unique" and len(fired) > 1:
        raise HitPolicyViolation(table.id, [r.id for r in fired])
    if not fired and default is not None:
        fired.append(default)
    return fired


# --- the results the Assessment is built from -------------------------------------------------------------------
# Per table: (table, applies, fired rows, possible rows as (row, its unknown facts), trace), truth values as ints in
# Kleene order (0 FALSE, 1 UNKNOWN, 2 TRUE). `trace` is None unless asked for (and for a table that does not apply):
# row after row, the row's result and the results of the conditions evaluated, in one flat tuple (`_row_codes`).
# The compiled tables (mcrc.knowledge.compile) produce it directly; `_interpreted_table` makes it from the reference
# interpreter's RowResults.
TableRows = tuple[Table, int, "list[Row] | tuple", "list[tuple[Row, set[str] | frozenset[str]]] | tuple",
                  "tuple | None"]
Rows = list[TableRows]


def _interpreted_table(res: tuple[Table, Tri, list[RowResult] | None], trace: bool) -> TableRows:
    table, applies, results = res
    if results is None:
        return (table, applies.rank, (), (), None)
    fired = [rr.row for rr in results if rr.result is _T]
    possible = [(rr.row, rr.unknown_facts) for rr in results if rr.result is _U]
    tr = tuple(x for rr in results for x in (rr.result.rank, *(c.rank for c in rr.conditions))) if trace else None
    return (table, applies.rank, fired, possible, tr)


def evaluate_tables(kb: KnowledgeBase, facts: Facts, show_evidence: bool = True, trace: bool = False,
                    previous: Rows | None = None, changed: frozenset[str] | set[str] = frozenset(),
                    compiled: bool = True) -> Rows:
    """Every table over the facts, by the compiled tables (default) or the reference interpreter. `trace`: record
    each row's condition results. `previous`, `changed`: as for evaluate_rows (a table reading none of the changed
    facts keeps its previous result)."""
    values = facts.values
    if not compiled:
        out: Rows = []
        for i, table in enumerate(kb.tables):
            if previous is not None and not (changed & table_facts(table)):
                out.append(previous[i])
            else:
                out.append(_interpreted_table(evaluate_table(table, values, show_evidence), trace))
        return out
    if previous is None:
        return compiled_knowledge(kb).evaluate(values, trace, show_evidence)
    readers = fact_readers(kb)
    redo = [False] * len(kb.tables)
    for f in changed:
        for i in readers.get(f, ()):
            redo[i] = True
    return compiled_knowledge(kb).evaluate(values, trace, show_evidence, previous, redo)


def fired_rows(table: Table, values: dict, show_evidence: bool = True, compiled: bool = True) -> list[Row]:
    """fired_in_table by the compiled table (or the interpreter with `compiled=False`)."""
    if not compiled:
        return fired_in_table(table, values, show_evidence)
    if not show_evidence and table.evidence:
        return []
    return compiled_table(table).fired(values)


_LABEL = ("not_fired", "possible", "fired")
_COND_LABEL = ("false", "unknown", "true")
_ROW_TRACE_CACHE: dict[tuple, RowTrace] = {}


def _row_trace(row: Row, code: tuple[int, ...]) -> RowTrace:
    """Trace entries are immutable and repeat across patients, so identical ones are shared. `code`: the row's
    result and the results of the conditions evaluated."""
    key = (id(row), code)
    hit = _ROW_TRACE_CACHE.get(key)
    if hit is None or hit.row != row.id:
        hit = RowTrace(row=row.id, result=_LABEL[code[0]], default=row.default,
                       conditions=tuple(ConditionTrace(condition=text, result=_COND_LABEL[r])
                                        for (_, text, _), r in zip(row.checks, code[1:], strict=False)))
        if len(_ROW_TRACE_CACHE) > 50_000:
            _ROW_TRACE_CACHE.clear()
        _ROW_TRACE_CACHE[key] = hit
    return hit


_TABLE_TRACE_CACHE: dict[tuple, tuple[Table, TableTrace]] = {}


def _row_codes(table: Table, tr: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The flat trace of a table cut into its rows' (result, *condition results): a default row is its result
    alone; another row its result and then every condition unless FALSE, the conditions up to the first FALSE one
    if FALSE (a row of a table that applies is FALSE only by a FALSE condition)."""
    out, i = [], 0
    for row in table.rows:
        res = tr[i]
        if row.default:
            out.append((res,))
            i += 1
            continue
        if res:
            end = i + 1 + len(row.checks)
        else:
            end = i + 1
            while tr[end] != 0:
                end += 1
            end += 1
        out.append(tr[i:end])
        i = end
    if i != len(tr):
        raise ValueError(f"trace of table {table.id} does not match its rows")
    return out


def _table_trace(table: Table, applies: int, tr: tuple) -> TableTrace:
    """The trace of a table that applies, shared between patients with the same row results."""
    key = (id(table), applies, tr)
    hit = _TABLE_TRACE_CACHE.get(key)
    if hit is None or hit[0] is not table:
        rows = tuple(_row_trace(row, code) for row, code in zip(table.rows, _row_codes(table, tr), strict=True))
        if len(_TABLE_TRACE_CACHE) > 20_000:
            _TABLE_TRACE_CACHE.clear()
        hit = _TABLE_TRACE_CACHE[key] = (table, TableTrace(table=table.id, title=table.title, hit=table.hit,
                                                           applies=_COND_LABEL[applies], rows=rows))
    return hit[1]


_SKIPPED_CACHE: dict[int, tuple[Table, TableTrace]] = {}


def _skipped_table_trace(table: Table) -> TableTrace:
    """The (shared, immutable) trace of a table that does not apply: every row not fired, unevaluated."""
    hit = _SKIPPED_CACHE.get(id(table))
    if hit is None or hit[0] is not table:
        rows = tuple(RowTrace(row=r.id, result="not_fired", default=r.default, conditions=()) for r in table.rows)
        hit = _SKIPPED_CACHE[id(table)] = (table, TableTrace(table=table.id, title=table.title, hit=table.hit,
                                                              applies="false", rows=rows))
    return hit[1]


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


@dataclass(frozen=True, slots=True)
class _Fixed:
    """Everything of an Assessment that depends only on the rows that fired (and their review statuses): built
    once per set of fired rows and shared by the assessments that have it (nothing modifies it)."""

    goal: Item | None
    items: dict[str, tuple[Item, ...]]
    strategies: tuple[StrategyOut, ...]
    counted: tuple[tuple[Row, int] | None, ...]  # per strategy: its row and place when its months are the patient's
    followup_outs: tuple[OutItem | None, ...]  # per follow-up item: the output its dates come from
    rationale: tuple[Rationale, ...]
    positions: tuple[TopicView, ...]
    used_sources: tuple[str, ...]
    guideline_sources: tuple[str, ...]
    reviews: dict[str, RowReview]
    statuses: tuple[RowReview, ...]  # the review status of each fired row it was built with


_FIXED_CACHE: dict[tuple, tuple[KnowledgeBase, ReviewBook, _Fixed]] = {}
_CAVEATED: dict[tuple, tuple[_Fixed, tuple, tuple]] = {}


def _with_caveats(kb: KnowledgeBase, fx: _Fixed, rules: list) -> tuple[list, list, list]:
    """apply_rules over the shared options of `fx` (no strategy counts the patient's months), kept per options and
    rules: the same caveats recur across patients."""
    key = (id(fx), tuple(id(r) for r in rules))
    hit = _CAVEATED.get(key)
    if hit is None or hit[0] is not fx or any(a is not b for a, b in zip(hit[1], rules, strict=True)):
        if len(_CAVEATED) > 5_000:
            _CAVEATED.clear()
        out = apply_rules(kb, rules, list(fx.items["regimens"]), list(fx.strategies), list(fx.items["evidence"]))
        hit = _CAVEATED[key] = (fx, tuple(rules), tuple(tuple(x) for x in out))
    return list(hit[2][0]), list(hit[2][1]), list(hit[2][2])


def _fixed(kb: KnowledgeBase, book: ReviewBook, fired: list[tuple[Table, Row]]) -> _Fixed:
    key = (id(kb), id(book), tuple(r.id for _, r in fired))
    hit = _FIXED_CACHE.get(key)
    if hit is not None and hit[0] is kb and hit[1] is book and all(
            book.get(r.id) is rv for (_, r), rv in zip(fired, hit[2].statuses, strict=True)):
        return hit[2]
    b = _Builder(kb, None, book)  # type: ignore[arg-type]  # no facts: nothing of the patient goes in here
    used_sources: list[str] = []
    guideline_sources: list[str] = []  # cited by fired rows of guideline tables (for `currency`)
    for table, row in fired:
        b.add_row(row)
        for c in row.citations:
            if c.source not in used_sources:
                used_sources.append(c.source)
            if not table.evidence and c.source not in guideline_sources:
                guideline_sources.append(c.source)
    followup = b.items["followup"]
    fixed = _Fixed(goal=b.goal, items={k: tuple(v.values()) for k, v in b.items.items()},
                   strategies=tuple(b.strategies), counted=tuple(b.counted),
                   followup_outs=tuple(b.followup_outs.get(k) for k in followup), rationale=tuple(b.rationale),
                   positions=tuple(b.positions()), used_sources=tuple(used_sources),
                   guideline_sources=tuple(guideline_sources), reviews={r.row: book.get(r.row) for r in b.rationale},
                   statuses=tuple(book.get(r.id) for _, r in fired))
    if len(_FIXED_CACHE) > 5_000:  # bounded: a cohort of random patients makes many sets
        _FIXED_CACHE.clear()
    _FIXED_CACHE[key] = (kb, book, fixed)
    return fixed


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


def _plain_fields(cls) -> tuple[tuple[str, object], ...] | None:
    """The fields of a model in order with how `model_construct` fills each one left out (None when it needs more
    than that: aliases, a post-init hook, a required field's absence)."""
    if cls.__pydantic_post_init__ or cls.__pydantic_root_model__ or cls.model_config.get("extra") == "allow":
        return None
    out = []
    for name, field in cls.__pydantic_fields__.items():
        if field.alias not in (None, name) or field.validation_alias is not None:
            return None
        out.append((name, field))
    return tuple(out)


_ASSESSMENT_FIELDS = _plain_fields(Assessment)
_set = object.__setattr__


def _construct(**values) -> Assessment:
    """`Assessment.model_construct(**values)`, without the per-field alias look-ups it makes (the engine passes
    every field by name): the same __dict__ (fields in order, defaults for those left out) and fields set. Tests
    compare both on every example."""
    if _ASSESSMENT_FIELDS is None:
        return Assessment.model_construct(**values)
    filled = {}
    for name, field in _ASSESSMENT_FIELDS:
        if name in values:
            filled[name] = values[name]
        elif not field.is_required():
            filled[name] = field.get_default(call_default_factory=True, validated_data=filled)
    m = Assessment.__new__(Assessment)
    _set(m, "__dict__", filled)
    _set(m, "__pydantic_fields_set__", set(values))
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


_POSSIBLE_CACHE: dict[tuple, tuple[Row, PossibleRow]] = {}


def _possible_row(row: Row, unknown: set[str] | frozenset[str]) -> PossibleRow:
    """The entry of a possible row waiting for the `unknown` facts, which it lists sorted (shared between
    assessments: nothing modifies it)."""
    key = (id(row), frozenset(unknown))
    hit = _POSSIBLE_CACHE.get(key)
    if hit is None or hit[0] is not row:
        if len(_POSSIBLE_CACHE) > 50_000:
            _POSSIBLE_CACHE.clear()
        hit = _POSSIBLE_CACHE[key] = (row, PossibleRow(row=row.id, table=row.table_id, title=row.title,
                                                       needs=sorted(unknown), would_add=list(row.all_codes),
                                                       citations=_cites(row.citations)))
    return hit[1]


def build_assessment(kb: KnowledgeBase, facts: Facts, patient_id: str | None = None,
                     input_hash: str | None = None, show_evidence: bool = True, trace: bool = True,
                     reviews: ReviewBook | None = None, evaluated: Rows | None = None,
                     compiled: bool = True) -> Assessment:
    """`trace=False` leaves `trace` empty (answers that will not carry it need not build it). `reviews`: the
    review status of the rows (default: the knowledge base's own review file). `evaluated`: the tables already
    evaluated for these facts (`evaluate_tables`, with `trace` when the trace is wanted), when the caller has them;
    otherwise they are evaluated here (`compiled=False`: by the reference interpreter)."""
    if evaluated is None:
        evaluated = evaluate_tables(kb, facts, show_evidence, trace=trace, compiled=compiled)
    book = reviews if reviews is not None else kb.review_book
    if book.kb_version != kb.version:
        raise ValueError(f"review statuses of knowledge base {book.kb_version} given for knowledge base {kb.version}")
    possible: list[PossibleRow] = []
    unknown_rows: dict[str, list[str]] = {}
    trace_out: list[TableTrace] = []
    fired_rows: list[tuple[Table, Row]] = []
    for table, applies, fired, maybe, tr in evaluated:
        if not applies:
            if trace:
                trace_out.append(_skipped_table_trace(table))
            continue
        if trace:
            if tr is None:
                raise ValueError(f"table {table.id} was evaluated without its trace")
            trace_out.append(_table_trace(table, applies, tr))
        for row in fired:
            fired_rows.append((table, row))
        for row, unknown in maybe:
            entry = _possible_row(row, unknown)
            possible.append(entry)
            rid = row.id
            for f in entry.needs:
                waiting = unknown_rows.get(f)
                if waiting is None:
                    unknown_rows[f] = [rid]
                else:
                    waiting.append(rid)
    fx = _fixed(kb, book, fired_rows)
    guideline_sources = fx.guideline_sources
    strategies = list(fx.strategies)
    for i, counted in enumerate(fx.counted):
        if counted is not None:
            strategies[i] = _Builder._counted(facts, counted[0], strategies[i], counted[1])
    followup = list(fx.items["followup"])
    if facts.ned_date is not None:
        followup = [replace(item, dates=_Builder._dates(facts.ned_date, out)) if out is not None else item
                    for item, out in zip(followup, fx.followup_outs, strict=True)]
    items = fx.items
    rules = active_rules(kb, facts)
    if not rules:
        regimens, evidence = list(items["regimens"]), list(items["evidence"])
    elif any(c is not None for c in fx.counted):  # strategies with the patient's months: not shared
        regimens, strategies, evidence = apply_rules(kb, rules, list(items["regimens"]), strategies,
                                                     list(items["evidence"]))
    else:
        regimens, strategies, evidence = _with_caveats(kb, fx, rules)
    referrals = list(items["referrals"])
    current = current_standard(kb, facts, evidence, regimens, strategies, guideline_sources) if evidence else []
    if any(r.code == "out_of_scope" for r in referrals):
        scope = Scope(status="out_of_scope", reason=referrals[0].note or referrals[0].label)
    elif referrals or not strategies:
        # a referral from a framing table is the answer even when add-on tables offer options
        reasons = [r.note or r.label for r in referrals] or ["no strategy applies with the facts known"]
        scope = Scope(status="refer_mdt", reason="; ".join(reasons))
    else:
        scope = Scope(status="in_scope")
    return _construct(
        patient_id=patient_id,
        provenance=Provenance(kb_version=kb.version, engine_version=ENGINE_VERSION, input_hash=input_hash,
                              sources=list(fx.used_sources), newer_evidence="shown" if show_evidence else "hidden",
                              reviews_from=list(book.sources)),
        scope=scope,
        current_standard=current,
        goal=fx.goal,
        first_steps=list(items["first_steps"]),
        strategies=strategies,
        local_treatment=list(items["local_treatment"]),
        regimens=regimens,
        warnings=list(items["warnings"]),
        tests=list(items["tests"]),
        workup=list(items["workup"]),
        prognosis=list(items["prognosis"]),
        followup=followup,
        considerations=list(items["considerations"]),
        referrals=referrals,
        positions=list(fx.positions),
        evidence=evidence,
        currency=currency(kb, guideline_sources),
        possible=possible,
        unknown_facts=[UnknownFact(fact=f, description=FACTS[f].doc, rows=rows)
                       for f, rows in sorted(unknown_rows.items())],
        rationale=list(fx.rationale),
        reviews=dict(fx.reviews),
        facts=facts.known(),
        derivation_notes=list(facts.notes),
        trace=trace_out,
    )
