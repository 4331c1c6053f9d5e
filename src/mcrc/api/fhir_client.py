"""Read a patient's record from the EHR's FHIR server when a CDS Hooks call brings no (or partial) prefetch.

CDS Hooks 2.0 lets a service use `fhirServer` with the `fhirAuthorization` bearer token it is given.
This client is deliberately narrow:

* only GETs below the given `fhirServer` base URL; `next` links are followed only when they point to the
  same origin (scheme, host, port), so the token is never sent anywhere else; redirects are not followed;
* `https` only, except for loopback hosts (a local EHR sandbox);
* a timeout per request, a cap on pages per search and on bytes per response;
* the access token is put in the Authorization header and nowhere else: it is never logged, never part of
  an exception message;
* the transport is injectable (`httpx.ASGITransport` in tests, so a real small FHIR app answers).

Every failure is a `FhirFetchError` with a short reason the service turns into its 412 answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from mcrc import strictjson
from mcrc.errors import InputError

log = logging.getLogger("mcrc.api.fhir_client")

# prefetch key -> FHIR search (relative to the server base) for one patient
SEARCHES: dict[str, str] = {
    "conditions": "Condition?patient={pid}",
    "observations": "Observation?patient={pid}",
    "procedures": "Procedure?patient={pid}",
    "medicationStatements": "MedicationStatement?patient={pid}",
    "medicationRequests": "MedicationRequest?patient={pid}",
    "medicationAdministrations": "MedicationAdministration?patient={pid}",
    # Lists saying a history is complete ("no chemotherapy": an empty List), decision record 0041
    "lists": "List?patient={pid}",
}
MAX_RESPONSE_BYTES = 5_000_000
PAGE_SIZE = 100


class FhirFetchError(Exception):
    """The FHIR server could not give the data; `reason` is safe to show and to log (no token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FhirAccess:
    base: str  # the fhirServer URL, without a trailing slash
    token: str

    def __repr__(self) -> str:  # never show the token
        return f"FhirAccess(base={self.base!r}, token=<hidden>)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_from_request(fhir_server: Any, fhir_authorization: Any) -> FhirAccess | None:
    """FhirAccess from the hook request's fields; None when they are absent; ValueError when malformed."""
    if fhir_server is None and fhir_authorization is None:
        return None
    if not isinstance(fhir_server, str) or not fhir_server:
        raise ValueError("fhirAuthorization is given without fhirServer")
    if fhir_authorization is None:
        return None  # the spec: without fhirAuthorization the service may not call the server
    if not isinstance(fhir_authorization, dict):
        raise ValueError("fhirAuthorization must be an object")
    token, kind = fhir_authorization.get("access_token"), fhir_authorization.get("token_type")
    if not isinstance(token, str) or not token or len(token) > 16_384:
        raise ValueError("fhirAuthorization.access_token is required")
    if not isinstance(kind, str) or kind.lower() != "bearer":
        raise ValueError("fhirAuthorization.token_type must be 'Bearer'")
    parts = urlsplit(fhir_server)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise ValueError("fhirServer must be an absolute https URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("fhirServer must use https (http only for a loopback host)")
    if parts.query or parts.fragment:
        raise ValueError("fhirServer must not carry a query or fragment")
    return FhirAccess(base=fhir_server.rstrip("/"), token=token)


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    port = p.port or (443 if p.scheme == "https" else 80)
    return (p.scheme, (p.hostname or "").lower(), port)


class FhirClient:
    """Fetch one patient's resources from one FHIR server (see the module doc)."""

    def __init__(self, access: FhirAccess, transport: httpx.AsyncBaseTransport | None = None,
                 timeout_s: float = 5.0, max_pages: int = 5) -> None:
        self.access = access
        self.transport = transport
        self.timeout_s = timeout_s
        self.max_pages = max_pages
        self.notes: list[str] = []  # what was incomplete (e.g. a search cut at the page cap)

    async def _get(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        if _origin(url) != _origin(self.access.base) or not url.startswith(self.access.base + "/"):
            raise FhirFetchError("the FHIR server sent a link outside its own base URL; not followed")
        try:
            r = await client.get(url, headers={"Authorization": f"Bearer {self.access.token}",
                                               "Accept": "application/fhir+json"})
        except httpx.TimeoutException:
            raise FhirFetchError("the FHIR server did not answer in time") from None
        except httpx.HTTPError as e:
            raise FhirFetchError(f"the FHIR server could not be reached ({type(e).__name__})") from None
        if r.status_code in (401, 403):
            raise FhirFetchError(f"the FHIR server refused the access token ({r.status_code})")
        if r.status_code == 404:
            raise FhirFetchError("the FHIR server does not know this patient or search (404)")
        if r.status_code != 200:
            raise FhirFetchError(f"the FHIR server answered {r.status_code}")
        if len(r.content) > MAX_RESPONSE_BYTES:
            raise FhirFetchError("the FHIR server's answer is too large")
        try:
            body = strictjson.loads(r.content, max_bytes=MAX_RESPONSE_BYTES)  # as strict as the CDS request itself
        except InputError as exc:
            raise FhirFetchError(f"the FHIR server's answer is not JSON mcrc accepts ({exc.problems[0]})") from None
        if not isinstance(body, dict):
            raise FhirFetchError("the FHIR server's answer is not a FHIR resource")
        return body

    async def _search(self, client: httpx.AsyncClient, key: str, query: str) -> list[dict[str, Any]]:
        url = f"{self.access.base}/{query}&_count={PAGE_SIZE}"
        out: list[dict[str, Any]] = []
        for page in range(self.max_pages):
            bundle = await self._get(client, url)
            if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
                raise FhirFetchError(f"the {key} search did not answer with a searchset Bundle")
            entries = bundle.get("entry") or []
            if not isinstance(entries, list):
                raise FhirFetchError(f"the {key} search answered a malformed Bundle")
            for e in entries:
                if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
                    continue
                if (e.get("search") or {}).get("mode", "match") != "match":
                    continue  # included or outcome entries (e.g. OperationOutcome warnings)
                out.append(e["resource"])
            links = bundle.get("link") or []
            nxt = next((lk.get("url") for lk in links if isinstance(lk, dict) and lk.get("relation") == "next"), None)
            if not isinstance(nxt, str) or not nxt:
                return out
            url = nxt
            if page == self.max_pages - 1:
                self.notes.append(f"{key}: only the first {self.max_pages} pages were read")
        return out

    async def fetch(self, patient_id: str, keys: list[str], want_patient: bool) -> dict[str, Any]:
        """prefetch-shaped data for `keys` (searchset Bundles) and, if asked, `patient` (the Patient)."""
        result: dict[str, Any] = {}
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout_s,
                                     follow_redirects=False) as client:
            jobs = {k: self._search(client, k, SEARCHES[k].format(pid=patient_id)) for k in keys}
            if want_patient:
                jobs["patient"] = self._get(client, f"{self.access.base}/Patient/{patient_id}")
            values = await asyncio.gather(*jobs.values())
        for key, value in zip(jobs, values, strict=True):
            if key == "patient":
                if value.get("resourceType") != "Patient":
                    raise FhirFetchError("the FHIR server's Patient read did not return a Patient")
                result["patient"] = value
            else:
                result[key] = {"resourceType": "Bundle", "type": "searchset",
                               "entry": [{"resource": r} for r in value]}
        log.info("read %s from the FHIR server for one patient (%s)", ", ".join(jobs), self.access.base)
        return result
