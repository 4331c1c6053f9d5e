"""The provisional answer: the strict one recomputed with the presumptions a clinician makes (decision 0034).

Only presumptions that apply (the field is not recorded, `when` holds on the known facts) and that settle a fact
the strict answer is waiting for are used. A reported finding's field is read by its own fact alone, so that fact
is set directly; the untreated presentation fills the course list and every fact that reads the treatment history
is derived again (mcrc.facts.derive.rederive_untreated, so derived facts stay consistent with it). Only the tables
reading a changed fact are evaluated again.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mcrc.engine.assessment import Assessment, Assumption
from mcrc.engine.evaluate import Rows, evaluate_tables
from mcrc.engine.items import _cites
from mcrc.facts.model import Facts
from mcrc.knowledge.expr import facts_of
from mcrc.knowledge.model import KnowledgeBase
from mcrc.logic import Tri
from mcrc.patient import Patient, TreatmentHistory

_SITE = re.compile(r"^metastases\[organ=([a-z_]+)\]\.([a-z_]+)$")


def _recorded(patient: Patient, fills: str) -> bool | None:
    """Whether the field a presumption fills is recorded (None: there is nothing to fill, e.g. no lung site)."""
    m = _SITE.match(fills)
    if m:
        sites = [x for x in patient.metastases or () if x.organ == m.group(1)]
        return None if not sites else all(getattr(x, m.group(2)) is not None for x in sites)
    if fills == "primary.emergency":
        return None if patient.primary is None else patient.primary.emergency is not None
    if fills == "treatment_history.courses":
        return patient.treatment_history is not None and patient.treatment_history.courses is not None
    raise ValueError(f"no way to fill {fills}")  # the loader admits only the paths above


def untreated(patient: Patient) -> Patient:
    """The patient with an empty course list where none was recorded (the untreated_synchronous presumption; the
    reported findings are set on the facts directly, see `provisional`)."""
    hist = patient.treatment_history
    return patient.model_copy(update={"treatment_history": TreatmentHistory(courses=[]) if hist is None
                                      else hist.model_copy(update={"courses": []})})


_SIDE_FACTS: dict[int, tuple[KnowledgeBase, tuple[frozenset[str], frozenset[str]]]] = {}


def _side_facts(kb: KnowledgeBase) -> tuple[frozenset[str], frozenset[str]]:
    """Facts read outside the tables by the guideline answer (the caveats: a change in one of them changes the
    answer as surely as a row does), and the ids of the newer-evidence tables. Whether a presumption is used is
    decided by the guideline answer alone, so hiding newer evidence never changes the provisional answer's
    guideline part (decision records 0032, 0034)."""
    hit = _SIDE_FACTS.get(id(kb))
    if hit is None or hit[0] is not kb:
        names: set[str] = set()
        for c in kb.caveats:
            names |= facts_of(c.when)
        hit = _SIDE_FACTS[id(kb)] = (kb, (frozenset(names), frozenset(t.id for t in kb.tables if t.evidence)))
    return hit[1]


def provisional(kb: KnowledgeBase, patient: Patient, strict: Assessment, facts: Facts, evaluated: Rows,
                rederive: Callable[[Facts, Patient, Patient], Facts],
                compiled: bool = True) -> tuple[Facts, list[Assumption], Rows] | None:
    """The facts, assumptions and table results of the provisional answer, or None when no presumption is used.
    `rederive(facts, patient, untreated)` is the engine's derivation of the untreated patient from the patient's
    facts (mcrc.facts.derive.rederive_untreated, with the engine's definitions and date)."""
    values = facts.values
    candidates = [p for p in kb.presumptions if p.check(values) is Tri.TRUE and _recorded(patient, p.fills) is False]
    if not candidates:
        return None
    caveat_facts, evidence_tables = _side_facts(kb)
    # what the strict answer's possible rows wait for (strict.possible, read from the tables' results directly)
    waiting = set().union(*[unknown for table, _, _, possible, _ in evaluated if table.id not in evidence_tables
                            for _, unknown in possible])
    waiting |= {f for f in caveat_facts if values.get(f) is None}
    # a reported finding's field is read by its own fact alone (the loader checks the fact's source is the field),
    # so it is set on the facts directly; the course list feeds many derived facts, so that patient is derived again
    settles: dict[str, set[str]] = {}
    new = dict(values)
    filled_facts: Facts | None = None
    rederived: set[str] = set()  # the facts the untreated presentation changes
    for p in candidates:
        if p.kind == "reported_when_present":
            settles[p.id] = set(p.facts) & waiting
        else:
            filled_facts = rederive(facts, patient, untreated(patient))
            rederived = {f for f, v in filled_facts.values.items() if v != values[f]}
            settles[p.id] = rederived & waiting
    used = [p for p in candidates if settles[p.id]]
    if not used:
        return None
    origin = facts
    if filled_facts is not None and any(p.kind == "untreated_synchronous" for p in used):
        origin, new = filled_facts, dict(filled_facts.values)
    for p in used:
        if p.kind == "reported_when_present":
            for f in p.facts:
                new[f] = p.value
    filled = Facts(values=new, ned_date=origin.ned_date, notes=origin.notes)
    # the facts that can differ: those the reported findings set, and those the untreated presentation changed
    # (unless a reported finding set them back)
    changed = {f for p in used if p.kind == "reported_when_present" for f in p.facts if new.get(f) != values.get(f)}
    if origin is not facts:
        changed |= {f for f in rederived if new.get(f) != values.get(f)}
    assumptions = [Assumption(presumption=p.id, kind=p.kind, assumed=p.assumed, reason=p.reason, fills=p.fills,
                              facts=sorted(settles[p.id]), citations=_cites(p.citations)) for p in used]
    show = strict.provenance.newer_evidence == "shown"
    table_results = evaluate_tables(kb, filled, show, previous=evaluated, changed=frozenset(changed), compiled=compiled)
    return filled, assumptions, table_results
