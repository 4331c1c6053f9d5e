"""The Assessment assembled from the tables' results: the part shared per set of fired rows, the patient's part,
possible rows and unknown facts."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mcrc.catalog import FACTS
from mcrc.engine.assessment import (
    Assessment,
    Item,
    PossibleRow,
    Provenance,
    Rationale,
    Scope,
    StrategyOut,
    TableTrace,
    TopicView,
    UnknownFact,
)
from mcrc.engine.caveats import active_rules, apply_rules
from mcrc.engine.current import currency, current_standard
from mcrc.engine.evaluate import ENGINE_VERSION, Rows, evaluate_tables
from mcrc.engine.items import _Builder, _cites
from mcrc.engine.tracing import _skipped_table_trace, _table_trace
from mcrc.facts.model import Facts
from mcrc.knowledge.compile_waiting import Waiting
from mcrc.knowledge.model import KnowledgeBase, OutItem, Row, Table
from mcrc.knowledge.reviews import ReviewBook, RowReview


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


_POSSIBLE_CACHE: dict[int, tuple[Row, list[tuple[frozenset[str], PossibleRow]]]] = {}
_VARIANTS = 64  # unknown-fact sets kept per row (a row waits for a handful of different sets across patients)


def _possible_row(row: Row, unknown: set[str] | frozenset[str]) -> PossibleRow:
    """The entry of a possible row waiting for the `unknown` facts, which it lists sorted (shared between
    assessments: nothing modifies it). Kept per row with the sets it was made for, compared by equality (cheaper
    than hashing a new frozenset for every possible row of every patient)."""
    hit = _POSSIBLE_CACHE.get(id(row))
    if hit is None or hit[0] is not row:
        if len(_POSSIBLE_CACHE) > 5_000:
            _POSSIBLE_CACHE.clear()
        hit = _POSSIBLE_CACHE[id(row)] = (row, [])
    variants = hit[1]
    for needs, entry in variants:
        if needs == unknown:
            return entry
    entry = PossibleRow(row=row.id, table=row.table_id, title=row.title, needs=sorted(unknown),
                        would_add=list(row.all_codes), citations=_cites(row.citations))
    if len(variants) >= _VARIANTS:
        variants.clear()
    variants.append((frozenset(unknown), entry))
    return entry


_UNKNOWN_CACHE: dict[tuple[int, ...], tuple[tuple[PossibleRow, ...], tuple[UnknownFact, ...]]] = {}


def _unknown_facts(possible: list[PossibleRow]) -> list[UnknownFact]:
    """The unknown facts the possible rows wait for, each with those rows, sorted by fact. Shared between
    assessments with the same possible rows (nothing modifies them): keyed by the identities of the entries, which
    the cache keeps alive, so an identity cannot be reused by another entry while it is cached."""
    key = tuple(map(id, possible))
    hit = _UNKNOWN_CACHE.get(key)
    if hit is None:
        unknown_rows: dict[str, list[str]] = {}
        for entry in possible:
            for f in entry.needs:
                waiting = unknown_rows.get(f)
                if waiting is None:
                    unknown_rows[f] = [entry.row]
                else:
                    waiting.append(entry.row)
        if len(_UNKNOWN_CACHE) > 20_000:
            _UNKNOWN_CACHE.clear()
        hit = _UNKNOWN_CACHE[key] = (tuple(possible), tuple(
            UnknownFact(fact=f, description=FACTS[f].doc, rows=rows) for f, rows in sorted(unknown_rows.items())))
    return list(hit[1])


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
        for item in maybe:
            # a compiled table's shared entry keeps its PossibleRow (mcrc.knowledge.compile_waiting); the
            # interpreter's plain tuples are looked up by row and set
            if type(item) is Waiting:
                entry = item.memo
                if entry is None:
                    entry = item.memo = _possible_row(*item)
            else:
                entry = _possible_row(*item)
            possible.append(entry)
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
    rules = active_rules(kb, facts, compiled)
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
        unknown_facts=_unknown_facts(possible),
        rationale=list(fx.rationale),
        reviews=dict(fx.reviews),
        facts=facts.known(),
        derivation_notes=list(facts.notes),
        trace=trace_out,
    )
