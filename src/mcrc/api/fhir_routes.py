"""`POST /api/v1/fhir/assess`: an mCODE-style FHIR R4 Bundle in, the cited proposal as a CarePlan out.

Nothing is stored. The answer also lists what could not be mapped (`unmapped`) and contradictions found
in the record (`warnings`), so a caller sees which facts stayed unknown. Errors are RFC 9457 problems:
400 for a body that is not JSON or not a Bundle, 422 for a Bundle that is not valid FHIR R4B (each problem
with its JSON pointer into the posted Bundle) or whose mapped patient is not valid. Authentication is the
same dependency as `POST /api/v1/assess` (passed in by the app factory).
"""

# No `from __future__ import annotations` here: FastAPI must see the `auth` dependency (a closure variable)
# in the endpoint's annotations as an object, not as a string it cannot resolve.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

import mcrc
from mcrc import strictjson
from mcrc.api.errors import ApiError, ProblemItem, pointer, problem, responses
from mcrc.errors import InputError
from mcrc.fhir import careplan, read_bundle
from mcrc.fhir.answer import answer_bundle
from mcrc.fhir.read import BUNDLE_TYPES
from mcrc.knowledge import load_knowledge

PATH = "/api/v1/fhir/assess"

_NOT_NULL = {"not": {"type": "null"}}  # FHIR JSON leaves an element out rather than writing null
_BUNDLE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["resourceType", "type"],
    "description": "A FHIR R4 Bundle (mCODE-style: PrimaryCancerCondition, SecondaryCancerCondition, TNM, "
                   "tumour markers, genomic variants, ECOG, procedures, medications). Only the Bundle's frame is "
                   "described here; the Bundle and every resource in it must be valid FHIR R4B as the FHIR "
                   "specification defines it (https://hl7.org/fhir/R4B/), else 422 with a pointer to the element.",
    "externalDocs": {"url": "https://hl7.org/fhir/R4B/bundle.html"},
    "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]},
                   "type": {"type": "string", "enum": list(BUNDLE_TYPES)},
                   **{name: _NOT_NULL for name in ("id", "meta", "implicitRules", "language", "identifier",
                                                   "timestamp", "total", "link", "signature")},
                   "entry": {"type": "array", "items": {"type": "object", "additionalProperties": False, "properties": {
                       **{name: _NOT_NULL for name in ("id", "extension", "modifierExtension", "link", "fullUrl",
                                                       "search", "request", "response")},
                       "resource": {"type": "object", "required": ["resourceType"], "properties": {
                           "resourceType": {"type": "string", "pattern": "^[A-Z][A-Za-z]{1,63}$"}}}}}}},
    "additionalProperties": False}}}}}  # the elements of a FHIR R4B Bundle and of its entries, no others


class FhirAssessOut(BaseModel):
    careplan: dict[str, Any]
    # the whole answer as one Bundle: this CarePlan, the alternatives, the warnings as DetectedIssues, the unknowns
    # to settle as Tasks (mcrc.fhir.answer, decision record 0044)
    bundle: dict[str, Any]
    unmapped: list[str]
    warnings: list[str]
    patient: dict[str, Any]


def _bundle_pointer(where: str) -> str | None:
    """`Bundle.entry[3].resource.code` -> `/entry/3/resource/code` (the posted Bundle is the root)."""
    if where == "Bundle":
        return ""
    if where.startswith("Bundle."):
        return pointer(where[len("Bundle."):])
    return None


def fhir_router(auth: Callable[..., Any]) -> APIRouter:
    """The FHIR routes; `auth` is the app's dependency for the stateless assess endpoint."""
    router = APIRouter(tags=["fhir"])

    @router.post(PATH, response_model=FhirAssessOut, openapi_extra=_BUNDLE_BODY,
                 responses=responses(400, 401, 422, 500),
                 summary="Assess an mCODE-style FHIR Bundle without storing it; answer a CarePlan")
    async def fhir_assess(request: Request, _: Annotated[Any, Depends(auth)],
                          evidence: Annotated[bool | None, Query(description="false hides newer evidence")] = None
                          ) -> Any:
        body = strictjson.loads(await request.body())  # JsonInputError: 400 with where and what
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            got = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
            raise ApiError(400, "not-a-bundle", "Not a FHIR Bundle",
                           f"the request body must be a FHIR Bundle (resourceType 'Bundle'), got {str(got)[:40]!r}")
        try:
            result = read_bundle(body)
        except InputError as exc:
            items = [ProblemItem(pointer=_bundle_pointer(p.where),
                                 field=p.where if p.where.startswith("Bundle") else f"(mapped patient) {p.where}",
                                 message=p.message, allowed=p.allowed) for p in exc.problems]
            return problem(422, "invalid-fhir", "Invalid FHIR Bundle",
                           "the Bundle is not valid FHIR R4B or its patient cannot be mapped", items)
        store = getattr(request.app.state, "store", None)
        kb = store.knowledge if store is not None else load_knowledge()
        reviews = store.review_book() if store is not None else None
        try:
            assessment = mcrc.assess(result.patient, kb=kb, show_evidence=evidence, reviews=reviews)
        except InputError as exc:
            items = [ProblemItem(field=f"(mapped patient) {p.where}", message=p.message, allowed=p.allowed)
                     for p in exc.problems]
            return problem(422, "invalid-input", "Invalid input", "the mapped patient is not valid", items)
        ref = f"Patient/{result.patient.id}" if result.patient.id else "Patient/unknown"
        settings = getattr(request.app.state, "settings", None)
        answer = answer_bundle(assessment, ref, kb, base_url=getattr(settings, "public_url", None))
        return FhirAssessOut(careplan=careplan(assessment, ref), bundle=answer, unmapped=result.unmapped,
                             warnings=result.warnings,
                             patient=result.patient.model_dump(mode="json", exclude_none=True))

    return router


__all__ = ["PATH", "FhirAssessOut", "fhir_router"]
