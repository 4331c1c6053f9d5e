"""Where a hook call's patient record comes from: the prefetch, then (for what it lacks) the EHR's FHIR server, merged
into one Bundle."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import HTTPException

from mcrc.api.cds_discovery import PREFETCH, REQUIRED_KEYS
from mcrc.api.fhir_client import SEARCHES, FhirClient, FhirFetchError, access_from_request

log = logging.getLogger("mcrc.api.cdshooks")


def _usable(key: str, value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    kind = value.get("resourceType")
    return kind == "Patient" if key == "patient" else kind == "Bundle"


def _merge(parts: dict[str, Any]) -> dict[str, Any]:
    """One collection Bundle from the Patient and the searchset Bundles (duplicates dropped)."""
    entries: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    resources: list[Any] = [parts["patient"]] if "patient" in parts else []
    for key in SEARCHES:
        bundle = parts.get(key)
        if bundle is None:
            continue
        raw = bundle.get("entry") or []
        if not isinstance(raw, list):
            raise HTTPException(status_code=400, detail=f"prefetch.{key}.entry must be a list")
        for e in raw:
            if isinstance(e, dict) and (e.get("search") or {}).get("mode", "match") == "match":
                resources.append(e.get("resource"))
    for r in resources:
        if isinstance(r, dict) and isinstance(r.get("id"), str) and isinstance(r.get("resourceType"), str):
            k = (r["resourceType"], r["id"])
            if k in seen:
                continue
            seen.add(k)
        if isinstance(r, dict) and r.get("resourceType") == "OperationOutcome":
            continue
        entries.append({"resource": r})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


async def patient_record(body: dict[str, Any], patient_id: str,
                  transport: httpx.AsyncBaseTransport | None) -> tuple[dict[str, Any], list[str]]:
    """The patient's record as one Bundle, from prefetch and (for what is missing) the FHIR server."""
    prefetch = body.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        raise HTTPException(status_code=400, detail="prefetch must be an object")
    prefetch = prefetch or {}
    if prefetch.get("bundle") is not None:  # one Bundle of the whole record ($everything)
        return prefetch["bundle"], []
    for key, value in prefetch.items():
        if key in PREFETCH and value is not None and not isinstance(value, dict):
            raise HTTPException(status_code=400, detail=f"prefetch.{key} must be a FHIR resource or null")
    parts = {k: prefetch[k] for k in PREFETCH if _usable(k, prefetch.get(k))}
    missing = [k for k in PREFETCH if k not in parts]
    notes: list[str] = []
    if missing:
        try:
            access = access_from_request(body.get("fhirServer"), body.get("fhirAuthorization"))
        except ValueError as e:
            raise HTTPException(status_code=400, detail=str(e)) from None
        if access is not None:
            client = FhirClient(access, transport=transport)
            try:
                parts |= await client.fetch(patient_id, [k for k in missing if k != "patient"],
                                            want_patient="patient" in missing)
            except FhirFetchError as e:
                log.warning("FHIR server fallback failed: %s", e.reason)
                raise HTTPException(status_code=412, detail=f"the data could not be read: {e.reason}") from None
            notes += client.notes
        else:
            lacking = [k for k in missing if k in REQUIRED_KEYS]
            if lacking:
                raise HTTPException(status_code=412, detail=(
                    f"prefetch {', '.join(lacking)} missing and no fhirServer with fhirAuthorization to read them"))
            notes += [f"{k} not provided (prefetch or FHIR server); treated as unknown" for k in missing]
    return _merge(parts), notes
