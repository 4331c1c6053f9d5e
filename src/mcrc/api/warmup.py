"""Exercise the request paths once at start-up, before `gc.freeze()`, so their lazily built objects are frozen.

Much is built on first use rather than at import: the fhir.resources models of each resource type, pydantic
serialisers, compiled regular expressions, caches of shared trace entries and citations. Built during the
first requests, after the freeze, they would stay in the collector's oldest generation, and each full
collection would walk them again: about 10 ms of pause every couple of hundred CDS Hooks calls, measured
(decision 0020). One synthetic record, read and assessed the way a request would be, builds them all before
the freeze. The record is made up here (no patient data) and nothing it produces is kept in a cache.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mcrc.api.warmup")

_PID = "warmup"
_SUBJECT = {"reference": f"Patient/{_PID}"}
_LOINC, _SCT, _ICD = "http://loinc.org", "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
_RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _coded(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _variant(i: int, hgnc: str, answer: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"{_PID}-gene-{i}", "status": "final",
            "code": _coded(_LOINC, "69548-6"), "subject": _SUBJECT, "effectiveDateTime": "2026-01-20",
            "valueCodeableConcept": _coded(_LOINC, answer),
            "component": [{"code": _coded(_LOINC, "48018-6"),
                           "valueCodeableConcept": _coded("http://www.genenames.org", hgnc)}]}


def synthetic_bundle() -> dict[str, Any]:
    """A made-up record touching every resource type the reader maps (and one it skips)."""
    from mcrc.fhir.read import INTENT_EXT

    adjuvant = {"url": INTENT_EXT, "valueCodeableConcept": _coded(_SCT, "373846009")}
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": _PID, "birthDate": "1960-01-01", "gender": "female"},
        {"resourceType": "Condition", "id": f"{_PID}-primary", "subject": _SUBJECT, "onsetDateTime": "2026-01-05",
         "code": _coded(_ICD, "C18.7"), "bodySite": [_coded(_SCT, "60184004")]},
        {"resourceType": "Condition", "id": f"{_PID}-met", "subject": _SUBJECT, "onsetDateTime": "2026-01-09",
         "code": _coded(_ICD, "C78.0"), "bodySite": [_coded(_SCT, "39607008")]},
        {"resourceType": "Observation", "id": f"{_PID}-ecog", "status": "final", "subject": _SUBJECT,
         "code": _coded(_LOINC, "89247-1"), "valueCodeableConcept": _coded(_LOINC, "LA9622-7")},
        {"resourceType": "Observation", "id": f"{_PID}-cea", "status": "final", "subject": _SUBJECT,
         "code": _coded(_LOINC, "2039-6"),
         "valueQuantity": {"value": 12, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"}},
        _variant(1, "HGNC:6407", "LA9634-2"), _variant(2, "HGNC:7989", "LA9634-2"),
        _variant(3, "HGNC:1097", "LA9634-2"),
        {"resourceType": "Procedure", "id": f"{_PID}-proc", "status": "completed", "subject": _SUBJECT,
         "code": _coded(_SCT, "23968004"), "performedDateTime": "2026-02-10"},
        {"resourceType": "MedicationStatement", "id": f"{_PID}-ms", "status": "completed", "subject": _SUBJECT,
         "medicationCodeableConcept": _coded(_RXNORM, "194000"), "effectiveDateTime": "2026-03-01",
         "extension": [adjuvant]},
        {"resourceType": "MedicationRequest", "id": f"{_PID}-mr", "status": "completed", "intent": "order",
         "subject": _SUBJECT, "medicationCodeableConcept": {"text": "oxaliplatin"}, "authoredOn": "2026-03-01",
         "extension": [adjuvant]},
        {"resourceType": "MedicationAdministration", "id": f"{_PID}-ma", "status": "completed", "subject": _SUBJECT,
         "medicationCodeableConcept": {"text": "leucovorin"}, "effectiveDateTime": "2026-03-01",
         "extension": [adjuvant]},
        {"resourceType": "AllergyIntolerance", "id": f"{_PID}-ai", "patient": _SUBJECT},
    ]
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def warm_up(kb: Any, with_cds: bool) -> None:
    """Run the assess and (when mounted) CDS Hooks paths once on the synthetic record; never raises.

    A failure here is logged and start-up goes on: the paths it would have warmed still work, only their
    first real calls pay the lazy building (and its objects escape the freeze).
    """
    import mcrc
    from mcrc.fhir import read

    try:
        result = read.read_bundle(synthetic_bundle())
        assessment = mcrc.assess(result.patient, kb=kb)
        assessment.model_dump_json()
        mcrc.assess(result.patient, kb=kb, show_evidence=False).model_dump_json()
        if with_cds:
            from mcrc.api.cdshooks import Links, _cards, build_cards

            _cards(build_cards(assessment, Links("http://warmup.invalid"), result.warnings, _PID))
    except Exception as exc:  # start-up must not fail for want of a warm-up
        log.warning("start-up warm-up skipped: %s: %s", type(exc).__name__, str(exc)[:200])
