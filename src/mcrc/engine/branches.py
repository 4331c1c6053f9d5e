"""Answers that branch: for the unknown facts that change the answer most, the answer for each of their values.

Candidates are the unknown (yes/no or listed-value) facts that answer-shaping rows are waiting for (rows that give
a goal, a strategy, a regimen, a local treatment, a first step or a referral). Each value is one more evaluation
of only the tables that read the fact; values giving the same answer are merged, and a fact whose values all give
the same answer is not a question for the board. The rest are ranked by how many answer-shaping rows differ
between their outcomes, and the first three are kept. Branches are hypotheses shown beside the answer, never
recommendations of their own.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from functools import cache
from itertools import chain
from operator import itemgetter

from mcrc.catalog import FACTS
from mcrc.engine.assessment import Branch, Outcome
from mcrc.engine.evaluate import Rows, fact_readers, fired_rows
from mcrc.errors import HitPolicyViolation
from mcrc.facts.model import Facts
from mcrc.knowledge.compile import compiled_table
from mcrc.knowledge.compile_checks import compile_breaks
from mcrc.knowledge.expr import compile_expr, facts_of
from mcrc.knowledge.model import KnowledgeBase, Row
from mcrc.logic import Tri

_SHAPING = ("goal", "regimens", "local", "first", "refer")
MAX_BRANCHES, MAX_CANDIDATES = 3, 4
_VALUE_WORDS = {"wild_type": "wild-type", "dmmr_msi_h": "dMMR/MSI-H",
                "pmmr_mss": "pMMR/MSS", "v600e": "V600E", "non_v600e": "non-V600E", "middle_lower": "middle or lower",
                "R0": "R0", "R1": "R1", "R2": "R2"}


def value_words(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value in _VALUE_WORDS:
        return _VALUE_WORDS[value]
    return str(value).replace("_", " ")


_CONSTRAINTS: dict[int, tuple[KnowledgeBase, dict[str, tuple]]] = {}
_BREAKS: dict[int, tuple[KnowledgeBase, dict[str, Callable[[dict], bool]]]] = {}


def _constraints_of(kb: KnowledgeBase) -> dict[str, tuple]:
    """The constraints reading each fact, as (if, then) trees (cached per knowledge base)."""
    hit = _CONSTRAINTS.get(id(kb))
    if hit is None or hit[0] is not kb:
        by_fact: dict[str, list] = {}
        for c in kb.constraints:
            for f in facts_of(c.if_) | facts_of(c.then):
                by_fact.setdefault(f, []).append((c.if_, c.then))
        hit = _CONSTRAINTS[id(kb)] = (kb, {f: tuple(v) for f, v in by_fact.items()})
    return hit[1]


def _possible(kb: KnowledgeBase, values: dict, fact: str, compiled: bool = True) -> bool:
    """False when setting `fact` breaks a constraint (a combination no real patient can produce); only the
    constraints that read the fact are checked, the others held before it was set. By code generated from the
    constraints' trees (mcrc.knowledge.compile_checks.compile_breaks), or with `compiled=False` by the interpreter."""
    if not compiled:
        return not any(compile_expr(if_)(values) is Tri.TRUE and compile_expr(then)(values) is Tri.FALSE
                       for if_, then in _constraints_of(kb).get(fact, ()))
    hit = _BREAKS.get(id(kb))
    if hit is None or hit[0] is not kb:
        hit = _BREAKS[id(kb)] = (kb, {f: compile_breaks(list(pairs)) for f, pairs in _constraints_of(kb).items()})
    breaks = hit[1].get(fact)
    return breaks is None or not breaks(values)


# questions in the words a board uses, where the catalog's description is written for the knowledge base's authors
_QUESTIONS = {
    "fit_for_intensive_therapy": "Fit for intensive (combination) chemotherapy?",
    "fit_for_surgery": "Fit for surgery (site, lung function, tolerance)?",
    "region": "Where is the patient treated (drug availability)?",
    "lung_resectability": "Are the lung metastases resectable (MDT judgement)?",
    "liver_resectability": "Are the liver metastases resectable (MDT judgement)?",
    "peritoneal_resectability": "Are the peritoneal metastases resectable (MDT judgement)?",
    "primary_resectability": "Is the primary (or local recurrence) resectable (MDT judgement)?",
    "extrapulmonary_resectability": "Are the metastases outside the lung resectable (MDT judgement)?",
    "tumour_burden": "Tumour burden high or low (MDT judgement)?",
    "mmr_status": "Mismatch repair status (dMMR/MSI-H or pMMR/MSS)?",
    "ras": "RAS (KRAS and NRAS) status?",
    "braf": "BRAF status?",
    "declines_surgery": "Does the patient decline surgery of the metastases?",
}


@cache
def question(fact: str) -> str:
    """The fact in clinical words, asked as a question (the catalog's description where no wording is set)."""
    if fact in _QUESTIONS:
        return _QUESTIONS[fact]
    doc = re.sub(r"\s*\((?:CONVENTIONS|see) [^)]*\)", "", FACTS[fact].doc)
    return f"{doc}?"


_SHAPING_ROWS: dict[int, tuple[Row, bool]] = {}


def _shaping(row: Row) -> bool:
    """Whether a row shapes the answer (a goal, strategy, regimen, local treatment, first step or referral)."""
    hit = _SHAPING_ROWS.get(id(row))
    if hit is None or hit[0] is not row:
        hit = _SHAPING_ROWS[id(row)] = (row, bool(row.strategies) or any(s in row.outputs for s in _SHAPING))
    return hit[1]


_PLANS: dict[tuple, tuple[KnowledgeBase, tuple]] = {}


def _plan(kb: KnowledgeBase, show_evidence: bool, compiled: bool) -> tuple:
    """Per table, how a hypothetical value is evaluated: (the function giving the rows that fire - the compiled
    table's `fired`, or the interpreter's `fired_rows` -, whether its fired rows need filtering to the
    answer-shaping ones), or None where the table can change nothing a branch shows: a newer-evidence table while
    newer evidence is hidden, or a table with no answer-shaping row that cannot break its hit policy (collect).
    A unique table without answer-shaping rows is still evaluated: two of its rows firing mark the value as no
    patient's (see find_branches)."""
    key = (id(kb), show_evidence, compiled)
    hit = _PLANS.get(key)
    if hit is None or hit[0] is not kb:
        plan = []
        for t in kb.tables:
            shaping = [_shaping(r) for r in t.rows]
            if (not show_evidence and t.evidence) or (not any(shaping) and t.hit != "unique"):
                plan.append(None)
                continue
            fn = (compiled_table(t).fired if compiled
                  else (lambda values, t=t: fired_rows(t, values, True, False)))
            plan.append((fn, not all(shaping)))
        hit = _PLANS[key] = (kb, tuple(plan))
    return hit[1]


_SHAPING_IDS: dict[int, tuple[KnowledgeBase, frozenset[int]]] = {}


def _shaping_ids(kb: KnowledgeBase) -> frozenset[int]:
    """The identities of a knowledge base's answer-shaping rows (which it keeps alive)."""
    hit = _SHAPING_IDS.get(id(kb))
    if hit is None or hit[0] is not kb:
        hit = _SHAPING_IDS[id(kb)] = (kb, frozenset(id(r) for t in kb.tables for r in t.rows if _shaping(r)))
    return hit[1]


def _outcome(kb: KnowledgeBase, rows: tuple[Row, ...], value) -> tuple[tuple, Outcome]:
    """The answer the answer-shaping rows give, in words, and its content (what two values must share to be
    merged: scope, goal, strategies, regimens, local treatments, first steps, referrals)."""
    vocab = kb.vocabulary
    refer = [o for r in rows for o in r.outputs.get("refer", ())]
    goal = next((o for r in rows for o in r.outputs.get("goal", ())), None)
    strategies = list(dict.fromkeys(
        st.label or " -> ".join(vocab.get("actions", s.code).label for s in st.steps)
        for r in rows for st in r.strategies))
    regimens = list(dict.fromkeys(o.code for r in rows for o in r.outputs.get("regimens", ())))
    local = sorted({o.code for r in rows for o in r.outputs.get("local", ())})
    first = sorted({o.code for r in rows for o in r.outputs.get("first", ())})
    if any(o.code == "out_of_scope" for o in refer):
        scope = "out_of_scope"
    elif refer or not strategies:
        scope = "refer_mdt"
    else:
        scope = "in_scope"
    goal_label = vocab.get("goals", goal.code).label if goal else None
    if strategies:
        said = strategies[0] + (f" (or {len(strategies) - 1} other strateg{'y' if len(strategies) == 2 else 'ies'})"
                                if len(strategies) > 1 else "")
    elif local or regimens:
        said = ", ".join([vocab.get("actions", c).label for c in local] + [vocab.get("regimens", c).label
                                                                              for c in regimens[:3]])
    else:
        said = ""
    if refer and scope != "in_scope":
        said = "; ".join([*([said] if said else []), *dict.fromkeys(vocab.get("referrals", o.code).label
                                                                    for o in refer)])
    said = said or "no strategy yet (the MDT decides)"
    summary = f"{goal_label}: {said}" if goal_label else said
    key = (scope, goal.code if goal else None, tuple(strategies), tuple(regimens), tuple(local), tuple(first),
           tuple(sorted({o.code for o in refer})))
    return key, Outcome(values=[value], value_labels=[value_words(value)], scope=scope, goal=goal_label,
                        summary=summary, strategies=strategies, regimens=regimens, local=local,
                        rows=[r.id for r in rows])


def _marked(kb: KnowledgeBase, outcomes: list[Outcome]) -> list[Outcome]:
    """Each outcome with what only some outcomes give and it does (strategies, local treatments and regimens, in
    words): the part of the answer that turns on the fact."""
    vocab = kb.vocabulary
    common_s = set.intersection(*(set(o.strategies) for o in outcomes))
    common_l = set.intersection(*(set(o.local) for o in outcomes))
    common_r = set.intersection(*(set(o.regimens) for o in outcomes))
    return [_with(o, only_here=[s for s in o.strategies if s not in common_s]
                    + [vocab.get("actions", c).label for c in o.local if c not in common_l]
                    + [vocab.get("regimens", r).label for r in o.regimens if r not in common_r])
            for o in outcomes]


_OUTCOMES: dict[tuple, tuple[KnowledgeBase, tuple, Outcome]] = {}


def _with(obj, **changes):
    """`dataclasses.replace` for the plain dataclasses here (no __post_init__, every field in __init__), at a
    fraction of its cost: a shallow copy with the changes."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


def _outcome_of(kb: KnowledgeBase, rows: tuple[Row, ...], ids: tuple[str, ...], value) -> tuple[tuple, Outcome]:
    """_outcome, cached by the rows that fire (`ids`; the same sets recur across values and patients)."""
    hit = _OUTCOMES.get(ids)
    if hit is None or hit[0] is not kb:
        if len(_OUTCOMES) > 20_000:
            _OUTCOMES.clear()
        key, outcome = _outcome(kb, rows, value)
        hit = _OUTCOMES[ids] = (kb, key, outcome)
    return hit[1], _with(hit[2], values=[value], value_labels=[value_words(value)])


_BRANCHABLE = frozenset(f for f, spec in FACTS.items() if spec.kind in ("bool", "enum"))


def find_branches(kb: KnowledgeBase, facts: Facts, evaluated: Rows, show_evidence: bool,
                  compiled: bool = True) -> list[Branch]:
    """The unknown facts that change the answer most, each with the answer for its values (module docstring).
    `compiled=False`: the hypothetical answers are evaluated by the reference interpreter."""
    values = facts.values
    shaping, branchable = _shaping_ids(kb), _BRANCHABLE
    plan = _plan(kb, show_evidence, compiled)
    # how many answer-shaping rows wait for each fact, in the order first met (Counter keeps it)
    counts = Counter(chain.from_iterable([unknown for _, _, _, possible, _ in evaluated for row, unknown in possible
                                          if id(row) in shaping]))
    waiting = {f: n for f, n in counts.items() if f in branchable}
    if not waiting:
        return []
    base: list[tuple[Row, ...]] = []
    for (_, _, fired, _, _), how in zip(evaluated, plan, strict=True):
        if not fired or how is None:
            base.append(())
        elif how[1]:
            base.append(tuple([r for r in fired if id(r) in shaping]))
        else:
            base.append(tuple(fired))
    out: list[Branch] = []
    readers_of = fact_readers(kb)
    # the most waited-for first, ties in the order first met (as Counter.most_common gives them)
    for fact, _ in sorted(waiting.items(), key=itemgetter(1), reverse=True)[:MAX_CANDIDATES]:
        spec = FACTS[fact]
        domain = (True, False) if spec.kind == "bool" else spec.values
        readers = [(i, plan[i]) for i in readers_of.get(fact, ()) if plan[i] is not None]
        groups: dict[tuple, Outcome] = {}
        fired: list[frozenset[str]] = []
        for value in domain:
            values[fact] = value  # set in place and restored below (a copy of every fact per value costs more)
            try:
                if not _possible(kb, values, fact, compiled):
                    continue
                per_table = list(base)
                for i, (fired_of, filtered) in readers:
                    per_table[i] = (tuple([r for r in fired_of(values) if id(r) in shaping]) if filtered
                                    else tuple(fired_of(values)))
            except HitPolicyViolation:
                # two rows of a unique table: `mcrc verify` proves no consistent patient does that, so the facts
                # around this value are not a patient's (e.g. raw cohort rows); the value is not a branch
                continue
            finally:
                values[fact] = None
            rows = tuple(chain.from_iterable(per_table))
            ids = tuple([r.id for r in rows])
            fired.append(frozenset(ids))
            key, outcome = _outcome_of(kb, rows, ids, value)
            if key in groups:
                g = groups[key]
                groups[key] = _with(g, values=[*g.values, value], value_labels=[*g.value_labels, value_words(value)])
            else:
                groups[key] = outcome
        if len(groups) < 2:
            continue  # every value gives the same answer: not a question for the board
        weight = len(frozenset.union(*fired) - frozenset.intersection(*fired))
        out.append(Branch(fact=fact, question=question(fact), outcomes=_marked(kb, list(groups.values())),
                          weight=weight))
    out.sort(key=lambda b: -b.weight)
    return out[:MAX_BRANCHES]
