"""The CDS Hooks services mcrc offers, as discovery lists them: their ids, hooks, descriptions and prefetch
templates."""

from __future__ import annotations

from typing import Any

from mcrc.api.fhir_client import SEARCHES

PATIENT_VIEW_ID = "mcrc-patient-view"
ORDER_SELECT_ID = "mcrc-order-select"
SERVICE_ID = PATIENT_VIEW_ID  # the first service (kept for callers of the earlier slice)

PREFETCH: dict[str, str] = {"patient": "Patient/{{context.patientId}}"} | {
    key: query.replace("{pid}", "{{context.patientId}}") for key, query in SEARCHES.items()}
REQUIRED_KEYS = ("patient", "conditions", "observations")
_USAGE = "Sign requests with a key of an issuer configured in mcrc (CDS Hooks 2.0 JWT)."

SERVICES: list[dict[str, Any]] = [
    {
        "hook": "patient-view",
        "id": PATIENT_VIEW_ID,
        "title": "mcrc: metastatic colorectal cancer treatment strategy",
        "description": (
            "Reads the patient's mCODE-style record (cancer conditions, stage, tumour markers, genomic variants,"
            " ECOG, procedures, medications) and returns the guideline-cited treatment goal and strategies,"
            " missing tests (with orders to place) and warnings."
        ),
        "prefetch": PREFETCH,
        "usageRequirements": _USAGE,
    },
    {
        "hook": "order-select",
        "id": ORDER_SELECT_ID,
        "title": "mcrc: safety check of systemic therapy orders for metastatic colorectal cancer",
        "description": (
            "Checks the selected draft MedicationRequests against mcrc's cited safety rules for this patient"
            " (anti-EGFR only for RAS wild-type, checkpoint inhibitors only for dMMR/MSI-H, targeted drugs only"
            " for their marker, no anti-EGFR with anti-VEGF...) and against the regimen options the guidelines"
            " give; unsafe choices are critical, choices that need a missing test first are warnings."
        ),
        "prefetch": PREFETCH,
        "usageRequirements": _USAGE,
    },
]
SERVICE = SERVICES[0]
