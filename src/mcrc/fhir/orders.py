"""Check draft medication orders (CDS Hooks `order-select`) against the knowledge base's safety invariants.

Nothing here is a drug rule of its own: every finding comes from an invariant of
`knowledge/data/safety.yaml` whose selector names drug classes (or drugs) of the vocabulary, evaluated
on the patient's facts in three-valued logic:

* the invariant applies for certain (its `when` TRUE and its `unless` FALSE)  -> **critical**;
* it may apply because a fact it reads is unknown                           -> **warning**, with the
  tests that would settle it (taken from the knowledge base's "test when unknown" rows);
* it does not apply                                                          -> no finding.

The drugs of all draft orders together form the regimen being ordered, so combinations split over
several MedicationRequests (an anti-EGFR antibody and an anti-VEGF agent; a KRAS G12C inhibitor with
its anti-EGFR partner) are judged as one regimen. A finding is reported only for selected orders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from mcrc.errors import InputError, Problem
from mcrc.facts.model import Facts
from mcrc.fhir.read import MODULATORS, _bundle_problems, _check_entries, medication_drugs
from mcrc.knowledge.expr import And, Known, facts_of
from mcrc.knowledge.model import Invariant, KnowledgeBase, Row
from mcrc.logic import Tri


@dataclass(frozen=True)
class DraftOrder:
    """One draft MedicationRequest and the vocabulary drugs it names (empty: not recognised)."""

    ref: str  # "MedicationRequest/<id>"
    label: str
    drugs: frozenset[str]
    selected: bool


@dataclass
class Finding:
    invariant: Invariant
    orders: list[DraftOrder]  # the selected orders the invariant objects to
    severity: str  # "critical" or "warning"
    facts: dict[str, Any]  # the facts the invariant read, with their values (None: unknown)
    tests: list[tuple[str, str]] = field(default_factory=list)  # (test code, row id) that settle unknowns


@dataclass
class OptionGap:
    """Selected drug classes that none of the assessment's cited regimen options contains."""

    orders: list[DraftOrder]
    classes: list[str]


def read_draft_orders(draft_orders: Any, selections: list[str]) -> list[DraftOrder]:
    """The MedicationRequests of a `draftOrders` Bundle; InputError (with JSON paths) when it is malformed."""
    from fhir.resources.R4B.bundle import Bundle

    if not isinstance(draft_orders, dict) or draft_orders.get("resourceType") != "Bundle":
        raise InputError([Problem("context.draftOrders", "expected a FHIR Bundle")])
    _check_entries(draft_orders)
    try:
        bundle = Bundle.model_validate(draft_orders)
    except ValidationError as exc:
        raise InputError([Problem("context.draftOrders" + p.where[len("Bundle"):], p.message)
                          for p in _bundle_problems(exc)]) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError([Problem("context.draftOrders", f"not a valid FHIR R4B Bundle: {exc}")]) from None
    wanted = set(selections)
    orders: list[DraftOrder] = []
    for entry in bundle.entry or []:
        res = entry.resource
        if res is None or res.__resource_type__ != "MedicationRequest":
            continue
        ref = f"MedicationRequest/{res.id}" if res.id else "MedicationRequest/(no id)"
        cc = res.medicationCodeableConcept
        if cc is None and res.medicationReference is not None:
            cc = _contained_medication(res, res.medicationReference.reference)
        drugs = frozenset(medication_drugs(cc)) if cc is not None else frozenset()
        label = _label(cc) if cc is not None else "medication given by reference"
        orders.append(DraftOrder(ref=ref, label=label, drugs=drugs, selected=ref in wanted))
    return orders


def _contained_medication(res: Any, reference: str | None) -> Any:
    if not reference or not reference.startswith("#"):
        return None
    for c in res.contained or []:
        if c.__resource_type__ == "Medication" and c.id == reference[1:]:
            return c.code
    return None


def _label(cc: Any) -> str:
    if cc.text:
        return cc.text[:80]
    for c in cc.coding or []:
        if c.display:
            return c.display[:80]
    return "unnamed medication"


def _classes(kb: KnowledgeBase, drugs: frozenset[str]) -> set[str]:
    v = kb.vocabulary
    return {v.get("drugs", d).klass for d in drugs if v.has("drugs", d) and v.get("drugs", d).klass}


def _check(fn: Any, values: dict[str, Any], default: Tri) -> Tri:
    return default if fn is None else fn(values)


def _invariant_facts(inv: Invariant) -> set[str]:
    out: set[str] = set()
    for e in (inv.when, inv.unless, inv.exempt_when):
        if e is not None:
            out |= facts_of(e)
    return out


def tests_for_unknown(kb: KnowledgeBase) -> dict[str, list[tuple[str, str]]]:
    """fact -> [(test code, row id)] from rows whose condition is only "this fact is unknown"."""
    out: dict[str, list[tuple[str, str]]] = {}
    for row in kb.rows.values():
        tests = row.outputs.get("tests") or ()
        if not tests:
            continue
        cond = row.when
        items = cond.items if isinstance(cond, And) else (cond,)
        if len(items) == 1 and isinstance(items[0], Known) and not items[0].known:
            for t in tests:
                pair = (t.code, row.id)
                if pair not in out.setdefault(items[0].fact, []):
                    out[items[0].fact].append(pair)
    return out


def check_orders(kb: KnowledgeBase, facts: Facts, orders: list[DraftOrder]) -> list[Finding]:
    """Findings of the safety invariants against the selected draft orders (see the module doc)."""
    values = facts.values
    all_drugs = frozenset().union(*(o.drugs for o in orders)) if orders else frozenset()
    all_classes = _classes(kb, all_drugs)
    unknown_tests = tests_for_unknown(kb)
    findings: list[Finding] = []
    for inv in kb.invariants:
        if inv.kind == "forbid" and inv.selector is not None and (inv.selector.drug_class or inv.selector.drug):
            sel = inv.selector
            hit = [o for o in orders if o.selected and (
                _classes(kb, o.drugs) & set(sel.drug_class) or o.drugs & set(sel.drug))]
        elif inv.kind == "forbid_together":
            hit = [o for o in orders if o.selected and _classes(kb, o.drugs) & set(inv.classes)] \
                if set(inv.classes) <= all_classes else []
        else:
            continue  # invariants about actions, durations or required items do not judge a drug order
        if not hit:
            continue
        applies = _check(inv.when_check, values, Tri.TRUE) & ~_check(inv.unless_check, values, Tri.FALSE)
        if inv.exempt_classes and all_classes & set(inv.exempt_classes):
            applies = applies & ~_check(inv.exempt_check, values, Tri.FALSE)
        if applies is Tri.FALSE:
            continue
        read = {f: values.get(f) for f in sorted(_invariant_facts(inv))}
        tests: list[tuple[str, str]] = []
        if applies is Tri.UNKNOWN:
            for fact, value in read.items():
                if value is None:
                    tests += [t for t in unknown_tests.get(fact, []) if t not in tests]
        findings.append(Finding(inv, hit, "critical" if applies is Tri.TRUE else "warning", read, tests))
    return findings


def option_gaps(kb: KnowledgeBase, assessment: Any, orders: list[DraftOrder]) -> list[OptionGap]:
    """Drug classes of the selected orders that no cited regimen option of the assessment contains.

    Only judged when the assessment offers regimen options at all (a regimen is being chosen); the
    classes of all draft orders together must fit inside one option (leucovorin, a modulator, is ignored).
    """
    if not assessment.regimens:
        return []
    options = [set(r.drug_classes) for r in assessment.regimens]
    selected = [o for o in orders if o.selected and o.drugs - MODULATORS]
    if not selected:
        return []
    ordered = _classes(kb, frozenset().union(*(o.drugs - MODULATORS for o in orders)))
    if not ordered or any(ordered <= opt for opt in options):
        return []
    covered = set().union(*options)
    missing = sorted(ordered - covered) or sorted(ordered)
    culprits = [o for o in selected if _classes(kb, o.drugs) & set(missing)] or selected
    return [OptionGap(culprits, missing)]


_ROWS_CACHE: dict[tuple[int, tuple[tuple[str, str], ...]], list[Row]] = {}


def citation_rows(kb: KnowledgeBase, citations: tuple[Any, ...] | list[Any]) -> list[Row]:
    """Rows that carry these citations, best first: for each citation in turn, rows citing the same place
    (or a part of it, e.g. "Table 3, Oxaliplatin-based chemotherapy" for "Table 3"), guideline tables first.
    Memoised per knowledge base (it only depends on the knowledge base and the citations)."""
    key = (id(kb), tuple((c.source, c.where) for c in citations))
    hit = _ROWS_CACHE.get(key)
    if hit is not None:
        return hit
    tables = sorted(kb.tables, key=lambda t: t.evidence)
    out: list[Row] = []
    seen: set[str] = set()
    for source, where in key[1]:
        for table in tables:
            for row in table.rows:
                if row.id not in seen and any(rc.source == source and (rc.where == where or
                                                                       rc.where.startswith(where + ","))
                                              for rc in row.citations):
                    seen.add(row.id)
                    out.append(row)
    if len(_ROWS_CACHE) > 1000:
        _ROWS_CACHE.clear()
    _ROWS_CACHE[key] = out
    return out


__all__ = ["DraftOrder", "Finding", "OptionGap", "check_orders", "citation_rows", "option_gaps",
           "read_draft_orders", "tests_for_unknown"]
