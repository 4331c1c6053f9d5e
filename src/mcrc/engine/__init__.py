"""The engine: Facts + knowledge tables -> Assessment with trace, checked against safety rules."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Any

import orjson

from mcrc.engine.assessment import Assessment, Provisional
from mcrc.engine.branches import find_branches
from mcrc.engine.build import build_assessment
from mcrc.engine.evaluate import ENGINE_VERSION, Rows, evaluate_rows, evaluate_tables
from mcrc.engine.provisional import provisional
from mcrc.engine.safety import check_safety
from mcrc.errors import SafetyViolation
from mcrc.facts import Facts, derive_facts
from mcrc.facts.derive import rederive_untreated
from mcrc.knowledge import KnowledgeBase, load_knowledge
from mcrc.knowledge.reviews import ReviewBook
from mcrc.patient import Patient, parse_patient


def _small_number(raw: bytes) -> bool:
    """Whether JSON text may hold a number below 1e-4, which orjson writes differently from json.dumps (json
    1e-05, orjson 0.00001 or 2.5e-7): an exponent `e-` after a digit, or `0.0000` (in a string too: then json
    writes the text, which is only slower)."""
    if b"0.0000" in raw:
        return True
    i = raw.find(b"e-")
    while i != -1:
        if i and 48 <= raw[i - 1] <= 57:
            return True
        i = raw.find(b"e-", i + 2)
    return False


def canonical_json(data: Any) -> bytes:
    """`json.dumps(data, sort_keys=True, separators=(",", ":"))` as bytes, by orjson where it writes the same
    bytes (ASCII text without DEL, no number below 1e-4, integers within 64 bits), by json otherwise."""
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits
        raw = None
    if raw is None or not raw.isascii() or b"\x7f" in raw or _small_number(raw):
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return raw


def input_hash(patient: Patient) -> str:
    """The digest of the validated input (stored with every answer; unchanged by how it is computed)."""
    return hashlib.sha256(canonical_json(patient.model_dump(mode="json", exclude_none=True))).hexdigest()[:16]


def default_show_evidence() -> bool:
    """Deployment setting: MCRC_SHOW_EVIDENCE=0/false/no/off hides newer evidence (shown by default)."""
    return os.environ.get("MCRC_SHOW_EVIDENCE", "1").strip().lower() not in ("0", "false", "no", "off")


def _checked(kb: KnowledgeBase, facts: Facts, show: bool, patient_id: str | None, input_hash: str | None,
             trace: bool, reviews: ReviewBook | None, evaluated: Rows, compiled: bool = True) -> Assessment:
    assessment = build_assessment(kb, facts, patient_id=patient_id, input_hash=input_hash, show_evidence=show,
                                  trace=trace, reviews=reviews, evaluated=evaluated, compiled=compiled)
    violations = check_safety(kb, assessment, facts)
    if violations:
        raise SafetyViolation(violations)
    return assessment


def assess_facts(facts: Facts, kb: KnowledgeBase | None = None, patient_id: str | None = None,
                 input_hash: str | None = None, show_evidence: bool | None = None, trace: bool = True,
                 reviews: ReviewBook | None = None, branch: bool = True, compiled: bool = True) -> Assessment:
    """Assess already-flattened Facts (cohort rows and the verifier come in here). Presumptions fill Patient
    fields, so Facts alone get the strict answer only; `branch=False` leaves out the branches. `compiled=False`:
    the tables are evaluated by the reference interpreter (the same answer, slower)."""
    kb = kb or load_knowledge()
    show = default_show_evidence() if show_evidence is None else show_evidence
    evaluated = evaluate_tables(kb, facts, show, trace=trace, compiled=compiled)
    assessment = _checked(kb, facts, show, patient_id, input_hash, trace, reviews, evaluated, compiled)
    if branch:
        assessment.branches = find_branches(kb, facts, evaluated, show, compiled=compiled)
    return assessment


def assess(patient: Patient | dict[str, Any], kb: KnowledgeBase | None = None,
           today: dt.date | None = None, show_evidence: bool | None = None, trace: bool = True,
           reviews: ReviewBook | None = None, branch: bool = True, compiled: bool = True) -> Assessment:
    """Assess one patient: validate, derive facts, evaluate every table, check safety.

    `show_evidence` (default: the MCRC_SHOW_EVIDENCE deployment setting, on) shows or hides newer
    trial evidence; the guideline recommendations are the same either way. `trace=False` leaves out the
    trace of every table and row (the answer is the same; it is for viewers of the path taken). `reviews`: the
    clinical review status of the rows (default: the knowledge base's review file; the server and the case
    store pass theirs, with the marks made in the app). Where presumptions apply (presumptions.yaml) the answer
    carries a `provisional` answer computed with them; `branch=False` leaves out the branches on unknown facts.
    `compiled=False` evaluates the tables by the reference interpreter instead of the compiled tables (the same
    answer; tests prove it)."""
    if not isinstance(patient, Patient):
        patient = parse_patient(patient, today=today)
    kb = kb or load_knowledge()
    show = default_show_evidence() if show_evidence is None else show_evidence
    facts = derive_facts(patient, kb.definitions, today=today)
    digest = input_hash(patient)
    evaluated = evaluate_tables(kb, facts, show, trace=trace, compiled=compiled)
    assessment = _checked(kb, facts, show, patient.id, digest, trace, reviews, evaluated, compiled)
    shown_facts, shown_evaluated = facts, evaluated
    made = provisional(kb, patient, assessment, facts, evaluated,
                       lambda f, before, after: rederive_untreated(f, before, after, kb.definitions, today=today),
                       compiled=compiled)
    if made is not None:
        shown_facts, assumptions, shown_evaluated = made
        answer = _checked(kb, shown_facts, show, patient.id, digest, False, reviews, shown_evaluated, compiled)
        assessment.provisional = Provisional(assumptions=assumptions, answer=answer)
    if branch:  # on the answer shown first (the provisional one when there is one)
        found = find_branches(kb, shown_facts, shown_evaluated, show, compiled=compiled)
        (assessment.provisional.answer if made is not None else assessment).branches = found
    return assessment


__all__ = ["ENGINE_VERSION", "Assessment", "assess", "assess_facts", "evaluate_rows", "evaluate_tables"]
