"""The compiled Python backend gives exactly what the reference interpreter gives (decision record 0047).

Per table, over random Facts (many unknowns, values at and around every threshold the rules use): the same
`applies`, the same fired rows, the same possible rows with the same unknown facts (in the same order, which the
branches' ranking reads), the same per-condition results for the trace, the same hit-policy errors. Per
assessment: the whole Assessment, trace, provisional answer and branches included, over every example and over
random Facts with newer evidence shown and hidden.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcrc
from mcrc.engine import assess_facts, canonical_json, input_hash
from mcrc.engine.assessment import (
    Assessment,
    CitationOut,
    EvidenceItem,
    Item,
    Provenance,
    RegimenItem,
    Scope,
    StepOut,
    StrategyOut,
)
from mcrc.engine.build import build_assessment
from mcrc.engine.evaluate import (
    _interpreted_table,
    evaluate_table,
    evaluate_tables,
    fired_in_table,
    fired_rows,
)
from mcrc.engine.safety import check_safety
from mcrc.errors import HitPolicyViolation, SafetyViolation
from mcrc.facts.catalog import FACTS
from mcrc.facts.model import Facts
from mcrc.knowledge.compile import compiled, compiled_table, compiled_tables
from mcrc.knowledge.expr import And, Cmp, Eq, In, Known, Not, Or
from mcrc.render import render_json
from tests.test_history_derivation import histories

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
KB = mcrc.load_knowledge()


def _constants(e, out: dict[str, set]) -> None:
    if isinstance(e, And | Or):
        for i in e.items:
            _constants(i, out)
    elif isinstance(e, Not):
        _constants(e.item, out)
    elif isinstance(e, Eq | Cmp):
        out.setdefault(e.fact, set()).add(e.value)
    elif isinstance(e, In):
        out.setdefault(e.fact, set()).update(e.values)
    elif isinstance(e, Known):
        out.setdefault(e.fact, set())


def _domains() -> dict[str, list]:
    """Each fact's values worth trying: the whole domain of yes/no and listed facts; for numbers, every threshold
    the rules use and its neighbours (inside the fact's range)."""
    used: dict[str, set] = {}
    for t in KB.tables:
        _constants(t.applies, used)
        for r in t.rows:
            _constants(r.when, used)
    out: dict[str, list] = {}
    for name, spec in FACTS.items():
        if spec.kind == "bool":
            out[name] = [True, False]
        elif spec.kind == "enum":
            out[name] = list(spec.values)
        else:
            near = {spec.low, spec.high}
            for c in used.get(name, ()):
                near |= {c - 1, c, c + 1} if spec.kind == "int" else {c - 0.5, c, c + 0.5}
            cast = int if spec.kind == "int" else float
            out[name] = sorted({cast(v) for v in near if spec.low <= v <= spec.high})
    return out


DOMAINS = _domains()
NAMES = sorted(FACTS)
# the facts of every example (real patients reach rows that uniform random facts rarely do)
SEEDS = [mcrc.derive_facts(mcrc.parse_patient(json.loads(p.read_text(encoding="utf-8"))), KB.definitions).values
         for p in EXAMPLES]


@st.composite
def random_values(draw) -> dict:
    """A value for every fact or unknown; the share of unknowns is itself drawn (5% to 90%). Half the time the
    facts start from an example's and only some of them are blanked or changed."""
    unknown = draw(st.sampled_from((0.05, 0.2, 0.4, 0.6, 0.8, 0.9)))
    if draw(st.booleans()):
        out = dict(draw(st.sampled_from(SEEDS)))
        for name in NAMES:
            roll = draw(st.floats(0, 1))
            if roll < unknown / 3:
                out[name] = None
            elif roll > 1 - unknown / 6:
                out[name] = draw(st.sampled_from(DOMAINS[name]))
        return out
    out = {}
    for name in NAMES:
        known = draw(st.floats(0, 1)) >= unknown
        out[name] = draw(st.sampled_from(DOMAINS[name])) if known else None
    return out


def _run(fn):
    try:
        return ("ok", fn())
    except HitPolicyViolation as exc:
        return ("hit", exc.args, str(exc))


def _same_table(table, values: dict, show: bool) -> None:
    ref = _run(lambda: _interpreted_table(evaluate_table(table, values, show), trace=True))
    ct = compiled_table(table)
    off = not show and table.evidence
    got = _run(lambda: ct.off if off else ct.trace(values))
    fast = _run(lambda: ct.off if off else ct.rows(values))
    assert got[0] == ref[0] and fast[0] == ref[0], (table.id, ref, got)
    if ref[0] == "hit":
        assert got[1:] == ref[1:] and fast[1:] == ref[1:], table.id
    else:
        r_table, r_applies, r_fired, r_possible, r_trace = ref[1]
        g_table, g_applies, g_fired, g_possible, g_trace = got[1]
        assert g_table is r_table and g_applies == r_applies, table.id
        assert [r.id for r in g_fired] == [r.id for r in r_fired], table.id
        assert [(r.id, list(u)) for r, u in g_possible] == [(r.id, list(u)) for r, u in r_possible], table.id
        if r_applies:
            assert g_trace == r_trace, table.id
        f_table, f_applies, f_fired, f_possible, f_trace = fast[1]
        assert (f_table, f_applies, f_fired, f_possible) == (g_table, g_applies, g_fired, g_possible)
        assert f_trace is None
    assert _run(lambda: [r.id for r in fired_rows(table, values, show)]) == \
        _run(lambda: [r.id for r in fired_in_table(table, values, show)]), table.id


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=random_values(), show=st.booleans())
def test_compiled_tables_match_the_interpreter(values, show):
    for table in KB.tables:
        _same_table(table, values, show)
    # the whole knowledge base in one generated function: each table as the interpreter gives it, up to the first
    # table whose rows break its hit policy (where the interpreter stops too)
    ref = []
    try:
        for table in KB.tables:
            ref.append(_interpreted_table(evaluate_table(table, values, show), trace=True))
    except HitPolicyViolation as exc:
        with pytest.raises(HitPolicyViolation) as got:
            compiled(KB).evaluate(values, True, show)
        assert got.value.args == exc.args
        return
    got = compiled(KB).evaluate(values, True, show)
    assert _comparable(got) == _comparable(ref)
    untraced = compiled(KB).evaluate(values, False, show)
    assert [r[:4] for r in _comparable(untraced)] == [r[:4] for r in _comparable(ref)]
    assert all(r[4] is None for r in untraced)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=random_values(), data=st.data(), show=st.booleans())
def test_compiled_reevaluation_matches_the_interpreter(values, data, show):
    """Only the tables reading a changed fact are evaluated again (the provisional answer): the others keep
    their previous results, exactly as `evaluate_rows(previous=...)` does."""
    other = dict(values)
    for name in data.draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4)):
        other[name] = data.draw(st.sampled_from([None, *DOMAINS[name]]))
    facts, before = Facts(values=values), Facts(values=other)
    changed = frozenset(f for f in NAMES if values[f] != other[f])
    old = _run(lambda: evaluate_tables(KB, before, show, trace=True))
    if old[0] != "ok":
        return
    ref = _run(lambda: evaluate_tables(KB, facts, show, trace=True, previous=old[1], changed=changed, compiled=False))
    got = _run(lambda: evaluate_tables(KB, facts, show, trace=True, previous=old[1], changed=changed))
    assert got[0] == ref[0]
    if ref[0] == "ok":
        assert _comparable(got[1]) == _comparable(ref[1])
    else:
        assert got[1:] == ref[1:]


def _comparable(rows) -> list[tuple]:
    return [(t.id, a, [r.id for r in f], [(r.id, list(u)) for r, u in p], tr if a else None) for t, a, f, p, tr in rows]


def test_the_random_facts_reach_every_outcome():
    """The equivalence test above is only as good as its facts: over a fixed sample of them, every table applies
    and fails to apply, and rows fire, are possible and fail (so no branch of the generated code goes untried)."""
    import random

    rnd = random.Random(7)
    applies, fired, possible = set(), set(), set()
    for i in range(1500):
        unknown = rnd.choice((0.05, 0.2, 0.5, 0.8))
        if i % 2:
            values = {n: (None if rnd.random() < unknown else rnd.choice(DOMAINS[n])) for n in NAMES}
        else:
            values = {n: None if rnd.random() < unknown / 3 else v for n, v in rnd.choice(SEEDS).items()}
        for ct in compiled_tables(KB):
            try:
                _, a, f, p, _ = ct.rows(values)
            except HitPolicyViolation:
                continue
            applies.add((ct.table.id, a))
            fired.update(r.id for r in f)
            possible.update(r.id for r, _ in p)
    assert {a for _, a in applies} == {0, 1, 2}
    assert len(fired) > 0.8 * len(KB.rows) and len(possible) > 0.8 * len(KB.rows), (len(fired), len(possible))


def _answer(fn) -> tuple:
    try:
        return ("ok", render_json(fn()))
    except (HitPolicyViolation, SafetyViolation) as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_gets_the_same_assessment(path):
    case = json.loads(path.read_text(encoding="utf-8"))
    for show in (True, False):
        compiled = mcrc.assess(case, show_evidence=show)
        interpreted = mcrc.assess(case, show_evidence=show, compiled=False)
        assert render_json(compiled) == render_json(interpreted), path.stem
    plain = mcrc.assess(case, trace=False)
    assert render_json(plain) == render_json(mcrc.assess(case, trace=False, compiled=False)), path.stem
    assert plain.trace == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=random_values(), show=st.booleans(), trace=st.booleans())
def test_random_facts_get_the_same_assessment(values, show, trace):
    facts = Facts(values=values)
    compiled = _answer(lambda: assess_facts(facts, KB, show_evidence=show, trace=trace))
    interpreted = _answer(lambda: assess_facts(facts, KB, show_evidence=show, trace=trace, compiled=False))
    assert compiled == interpreted


def test_a_trace_needs_the_traced_evaluation():
    facts = Facts.of(lung_mets=True)
    rows = evaluate_tables(KB, facts, trace=False)
    with pytest.raises(ValueError, match="without its trace"):
        build_assessment(KB, facts, trace=True, evaluated=rows)


# --- safety: the invariants resolved per set of recommendations give the reference check's violations ----------

REGIMENS = KB.vocabulary.codes("regimens")
ACTIONS = KB.vocabulary.codes("actions")
TRIALS = KB.vocabulary.codes("trials")


@st.composite
def recommendations(draw) -> Assessment:
    """A bare Assessment recommending random regimens, strategy steps (with regimens and durations), local
    treatments, first steps and trials: far more combinations, unsafe ones included, than the rows produce."""
    cite = [CitationOut(source="test", where="here")]
    regimens = []
    for code in draw(st.lists(st.sampled_from(REGIMENS), max_size=6, unique=True)):
        term = KB.vocabulary.get("regimens", code)
        regimens.append(RegimenItem(code=code, label=term.label, citations=cite, rows=["test"],
                                    drugs=list(term.drugs),
                                    drug_classes=sorted(KB.vocabulary.regimen_drug_classes(code))))
    strategies = []
    for i in range(draw(st.integers(0, 3))):
        steps = []
        for code in draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=4)):
            steps.append(StepOut(code=code, label=code, action_class=KB.vocabulary.get("actions", code).klass or "",
                                 months=draw(st.sampled_from((None, 3.0, 6.0))),
                                 max_months=draw(st.sampled_from((None, 4.0, 12.0))),
                                 regimens=draw(st.lists(st.sampled_from(REGIMENS), max_size=2))))
        strategies.append(StrategyOut(id=f"test#{i}", steps=steps, row="test", citations=cite))
    items = {section: [Item(code=c, label=c, citations=cite, rows=["test"])
                       for c in draw(st.lists(st.sampled_from(ACTIONS), max_size=2, unique=True))]
             for section in ("first_steps", "local_treatment")}
    evidence = []
    for code in draw(st.lists(st.sampled_from(TRIALS), max_size=2, unique=True)):
        term = KB.vocabulary.get("trials", code)
        evidence.append(EvidenceItem(code=code, label=code, citations=cite, rows=["test"],
                                     regimens=list(term.meta.get("regimens", []))))
    return Assessment.model_construct(
        provenance=Provenance(kb_version="x", engine_version="x", sources=[]), scope=Scope(status="in_scope"),
        regimens=regimens, strategies=strategies, evidence=evidence, **items)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=recommendations(), values=random_values())
def test_safety_resolved_per_recommendations_matches_the_reference(a, values):
    facts = Facts(values=values)
    assert check_safety(KB, a, facts) == check_safety(KB, a, facts, reference=True)


def test_the_random_recommendations_break_invariants():
    """The test above compares violations, so it must see some: random recommendations over random facts break
    most invariants."""
    import random

    rnd = random.Random(3)
    forbids = [inv for inv in KB.invariants if inv.kind == "forbid" and "regimens" in (inv.selector.sections or
                                                                                         ("regimens",))]
    broken = [inv.id for inv in forbids if _breaks(inv, rnd)]
    assert len(broken) >= 0.8 * len(forbids), sorted(set(i.id for i in forbids) - set(broken))


def _breaks(inv, rnd) -> bool:
    for _ in range(300):
        code = rnd.choice(REGIMENS)
        term = KB.vocabulary.get("regimens", code)
        a = Assessment.model_construct(
            provenance=Provenance(kb_version="x", engine_version="x", sources=[]), scope=Scope(status="in_scope"),
            regimens=[RegimenItem(code=code, label=code, citations=[], rows=["t"], drugs=list(term.drugs),
                                  drug_classes=[])])
        values = {n: rnd.choice(DOMAINS[n]) if rnd.random() < 0.7 else None for n in NAMES}
        if any(p.where == inv.id for p in check_safety(KB, a, Facts(values=values))):
            return True
    return False


def test_what_is_shared_between_assessments_is_never_changed_by_one():
    """The parts of an Assessment that depend only on the rows that fired are built once and shared; every example
    assessed after all the others (caches warm, shared with patients whose months given and follow-up dates differ)
    gets what it gets with the caches empty."""
    import mcrc.engine.build as ev
    from mcrc.engine.items import _ROW_PARTS_CACHE
    from mcrc.engine.tracing import _TABLE_TRACE_CACHE

    cases = [json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES]
    warm = [render_json(mcrc.assess(c)) for c in cases]
    generated = compiled(KB).evaluate.__globals__
    entries = [v for k, v in generated.items() if re.fullmatch(r"t\d+_P\d+", k)]  # the possible rows' entries
    assert sum(map(len, entries)) > 100
    for case, expected in zip(reversed(cases), reversed(warm), strict=True):
        for cache in (ev._FIXED_CACHE, ev._CAVEATED, ev._POSSIBLE_CACHE, ev._UNKNOWN_CACHE, _ROW_PARTS_CACHE,
                      _TABLE_TRACE_CACHE, *entries):
            cache.clear()
        assert render_json(mcrc.assess(case)) == expected, case.get("id")


# --- the input hash: orjson where it writes json.dumps's bytes ----------------------------------------------------

def _reference_hash(patient) -> str:
    import hashlib

    canonical = json.dumps(patient.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_input_hash_is_unchanged_on_every_example(path):
    patient = mcrc.parse_patient(json.loads(path.read_text(encoding="utf-8")))
    assert input_hash(patient) == _reference_hash(patient)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from((1e-5, 2.5e-7, 9.9e-5, 1e16, 1e-4, -0.0))
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=500, deadline=None)
@given(data=JSON_VALUES)
def test_canonical_json_writes_json_dumps_bytes(data):
    assert canonical_json(data) == json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


# --- derivation: the per-class shortcut gives what the History methods give ------------------------------------

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=histories(), unknown_drugs=st.booleans())
def test_class_exposure_shortcut_matches_the_history(data, unknown_drugs):
    """derive_facts asks History about a drug class only when some course may hold it; every other class is
    'not exposed, not refractory', exactly what History answers for it."""
    import datetime as dt

    from mcrc.facts.history import CLASSES, History, Params
    from mcrc.vocabulary import load_vocabulary

    if unknown_drugs and data["treatment_history"]["courses"]:
        del data["treatment_history"]["courses"][0]["regimen"]  # the agents not recorded
    try:
        patient = mcrc.parse_patient(data)
    except mcrc.InputError:
        return
    today = dt.date(2026, 12, 7)
    v = mcrc.derive_facts(patient, KB.definitions, today=today).values
    h = History(patient, load_vocabulary(), Params.from_definitions(KB.definitions), today)
    if unknown_drugs and h.courses:
        assert None in [h.classes(c) for c in h.courses]
    for klass in CLASSES:
        assert v[f"{klass}_exposed"] == h.exposed(klass), klass
        assert v[f"{klass}_refractory"] == h.refractory(klass), klass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=random_values())
def test_compiled_constraints_match_the_interpreter(values):
    """The constraints the branches check (constraints.yaml), generated from their trees, break exactly where the
    interpreted trees do."""
    from mcrc.engine.branches import _constraints_of, _possible

    for fact in _constraints_of(KB):
        assert _possible(KB, values, fact) == _possible(KB, values, fact, compiled=False), fact


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=random_values())
def test_compiled_caveat_conditions_match_the_interpreter(values):
    """The caveat rules that hold (caveats.yaml `when`), by generated code, are those whose interpreted check is
    TRUE, in the same order."""
    from mcrc.engine.caveats import active_rules

    facts = Facts(values=values)
    assert [r.id for r in active_rules(KB, facts)] == [r.id for r in active_rules(KB, facts, compiled=False)]


def test_the_random_facts_hold_every_caveat_condition():
    import random

    from mcrc.engine.caveats import active_rules

    rnd = random.Random(7)
    held = set()
    for _ in range(400):
        values = {n: (None if rnd.random() < 0.3 else rnd.choice(DOMAINS[n])) for n in NAMES}
        held |= {r.id for r in active_rules(KB, Facts(values=values))}
    assert held == {r.id for r in KB.caveats}


def test_the_random_facts_break_constraints():
    import random

    from mcrc.engine.branches import _constraints_of, _possible

    rnd = random.Random(5)
    broken = set()
    for _ in range(300):
        values = {n: (None if rnd.random() < 0.3 else rnd.choice(DOMAINS[n])) for n in NAMES}
        broken |= {f for f in _constraints_of(KB) if not _possible(KB, values, f)}
    assert len(broken) >= 0.8 * len(_constraints_of(KB)), sorted(set(_constraints_of(KB)) - broken)


def test_the_engine_builds_assessments_as_model_construct_does(monkeypatch):
    """The engine fills an Assessment's fields directly; model_construct gives the same object on every example."""
    import mcrc.engine.build as ev
    from mcrc.engine.assessment import Assessment as Model

    made: list[tuple[dict, object, dict, set]] = []

    def spy(**values):
        got = ev_construct(**values)  # as built (assess sets the branches and provisional answer afterwards)
        made.append((dict(values), got, dict(got.__dict__), set(got.model_fields_set)))
        return got

    ev_construct = ev._construct
    monkeypatch.setattr(ev, "_construct", spy)
    for path in EXAMPLES:
        mcrc.assess(json.loads(path.read_text(encoding="utf-8")))
    assert len(made) >= len(EXAMPLES)
    for values, got, fields, fields_set in made:
        want = Model.model_construct(**values)
        assert fields == want.__dict__ and list(fields) == list(want.__dict__)
        assert fields_set == want.model_fields_set
        assert got.__pydantic_extra__ == want.__pydantic_extra__
        assert got.__pydantic_private__ == want.__pydantic_private__


def test_a_row_with_too_many_conditions_is_refused_clearly():
    """The generated code nests one block per top-level condition; a row beyond the limit stops the load with a
    message naming the row and the way out, not a SyntaxError from the generated code."""
    from dataclasses import replace

    from mcrc.errors import KnowledgeError
    from mcrc.knowledge.compile import MAX_CONDITIONS, compile_knowledge
    from mcrc.knowledge.expr import And, Known

    table = KB.tables[0]
    row = next(r for r in table.rows if not r.default)
    many = replace(row, when=And(tuple(Known(f, True) for f in NAMES[:MAX_CONDITIONS + 1])))
    kb = replace(KB, tables=(replace(table, rows=(many, *table.rows[1:])), *KB.tables[1:]))
    with pytest.raises(KnowledgeError) as exc:
        compile_knowledge(kb)
    assert row.id in str(exc.value) and "all: [...]" in str(exc.value)


def test_possible_rows_are_shared_entries_made_once():
    """A compiled table lists a possible row as one shared entry per row and set of unknown facts (the bits of its
    UNKNOWN conditions and their unknown facts): two patients whose row waits for the same facts get the same
    entry, and the Assessment's entry for it is made once; different unknown facts give different entries."""
    from mcrc.knowledge.compile_waiting import Waiting

    def possible(values):
        return {r.id: item for t, a, f, p, tr in compiled(KB).evaluate(values, False) for item in p
                for r in (item[0],)}

    base = dict.fromkeys(NAMES)
    one = possible({**base, "metastatic": True, "lung_mets": True, "ecog": 1})
    two = possible({**base, "metastatic": True, "lung_mets": True, "ecog": 0, "age": 70})
    shared = [rid for rid in one if rid in two and one[rid][1] == two[rid][1]]
    assert shared and all(type(one[rid]) is Waiting and one[rid] is two[rid] for rid in shared)
    a1 = build_assessment(KB, Facts(values={**base, "metastatic": True, "lung_mets": True}), trace=False)
    a2 = build_assessment(KB, Facts(values={**base, "metastatic": True, "lung_mets": True}), trace=False)
    assert a1.possible and all(x is y for x, y in zip(a1.possible, a2.possible, strict=True))
    three = possible({**base, "metastatic": True, "lung_mets": True, "lung_resectability": "resectable"})
    assert any(rid in three and three[rid] is not one[rid] and three[rid][1] != one[rid][1] for rid in one)
