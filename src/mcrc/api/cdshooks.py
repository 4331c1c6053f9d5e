"""CDS Hooks 2.0 services: discovery, `patient-view`, `order-select` and their feedback endpoints.

`cds_router(auth_settings, cache, base_url, public_url=None, transport=None, kb=None)` gives an
APIRouter with

* `GET /cds-services`: discovery (no authentication) of `mcrc-patient-view` and `mcrc-order-select`,
  each with the same prefetch templates (the Patient and searches for its Conditions, Observations,
  Procedures, MedicationStatements, MedicationRequests, MedicationAdministrations and the Lists that say a
  treatment history is complete);
* `POST /cds-services/{id}`: the hook call, authenticated by `cds_auth_dependency` (bare 401 otherwise);
* `POST /cds-services/{id}/feedback`: the spec's feedback body, answered 200.

Where the data come from: the prefetch (each template's key; a legacy `bundle` key holding one Bundle of
the whole record is accepted too). Keys that are absent, null or an OperationOutcome are fetched from
`fhirServer` with the `fhirAuthorization` token (`mcrc.api.fhir_client`). The Patient, its Conditions and
its Observations are required: without them (no prefetch and no usable server) the answer is 412, as it is
when the server fails. Procedures and medications are optional: when neither prefetch nor a server gives
them, the history stays unknown and a card says so. Malformed requests are 400 with a short reason.

Cards cite the knowledge base: `source.url` points to the web page `/kb#row-<row id>` of the row (or of the
row carrying the safety rule's citation), links go to the web pages (case list, new-case form), all built
from `public_url` (the EHR-facing base URL), which is also the JWT audience base. No token is ever logged.

This module holds the hook handlers and the answers kept for records sent again; the services discovery lists are
in cds_discovery, the cards in cds_cards, the reading of prefetch and FHIR server in cds_prefetch.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response

import mcrc
from mcrc import strictjson
from mcrc.api.cds_auth import CdsAuthSettings, Claims, Replays, cds_auth_dependency
from mcrc.api.cds_cards import Links, build_cards, order_cards
from mcrc.api.cds_discovery import ORDER_SELECT_ID, PATIENT_VIEW_ID, SERVICE_ID, SERVICES
from mcrc.api.cds_prefetch import patient_record
from mcrc.errors import InputError
from mcrc.fhir.orders import read_draft_orders
from mcrc.fhir.read import ReadResult, content_digest, read_bundle
from mcrc.knowledge import KnowledgeBase, load_knowledge
from mcrc.knowledge.reviews import ReviewBook
from mcrc.lru import LRU

# the names read from here before the services were split (discovery, cards and prefetch have their own modules)
__all__ = ["ORDER_SELECT_ID", "PATIENT_VIEW_ID", "SERVICES", "SERVICE_ID", "Links", "build_cards", "cds_router",
           "order_cards"]

log = logging.getLogger("mcrc.api.cdshooks")

_FEEDBACK_OUTCOMES = {"accepted", "overridden"}
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def _cards(cards: list[dict[str, Any]]) -> Response:
    """The CDS Hooks answer, already plain JSON: serialised once (compact UTF-8), without FastAPI's generic
    re-encoding pass."""
    return Response(orjson.dumps({"cards": cards}), media_type="application/json")


def _bad(msg: str) -> HTTPException:
    return HTTPException(status_code=400, detail=msg)


# Read-and-assessed records by (Bundle digest, date, knowledge-base version): an EHR sends the same record each
# time the chart is opened (decision 0020). The date is in the key because reading uses it (ages, intervals);
# failures are never kept. Entries are kept pickled: bytes are invisible to the cyclic garbage collector, whereas
# 256 kept object graphs (~200,000 objects) made every full collection pause the server for about 120 ms;
# unpickling also hands each call objects of its own. patient-view keeps its finished cards as well (the same key
# plus what else shapes them: patient id, link base, reading notes), so a chart opened again costs the JWT check,
# the digest and fresh uuids for the cards and suggestions.
_ANSWERS = LRU(256)
_PATIENT_VIEW_CARDS = LRU(256)


def _record_key(bundle: Any, kb: KnowledgeBase, book: ReviewBook | None = None) -> tuple[str, ...] | None:
    """The key of a kept answer: the record, the day, the knowledge base and the review status of its rows (a row
    marked reviewed gives new answers)."""
    if not isinstance(bundle, dict):
        return None
    return content_digest(bundle), dt.date.today().isoformat(), kb.version, (book or kb.review_book).version


def _fresh_uuids(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kept cards with new uuids (each answer's cards and suggestions are identified afresh, for feedback)."""
    for card in cards:
        card["uuid"] = str(uuid.uuid4())
        for suggestion in card.get("suggestions", ()):
            suggestion["uuid"] = str(uuid.uuid4())
    return cards


def _read_and_assess(bundle: Any, patient_id: str, kb: KnowledgeBase, key: tuple[str, ...] | None = None,
                     book: ReviewBook | None = None) -> tuple[ReadResult, Any]:
    key = key or _record_key(bundle, kb, book)
    if key is not None:
        kept = _ANSWERS.get(key)
        if kept is not None:
            result, assessment = pickle.loads(kept)  # bytes this process pickled itself
            _same_patient(result, patient_id)
            return result, assessment
    result = _read(bundle, patient_id)
    try:
        assessment = mcrc.assess(result.patient, kb=kb, trace=False, reviews=book)  # cards never show the trace
    except InputError as e:
        first = e.problems[0] if e.problems else None
        raise _bad(f"patient data not assessable: {first}"[:300]) from None
    if key is not None:
        _ANSWERS.put(key, pickle.dumps((result, assessment), protocol=pickle.HIGHEST_PROTOCOL))
    return result, assessment


def _same_patient(result: ReadResult, patient_id: str) -> None:
    if result.patient.id and result.patient.id != patient_id:
        raise _bad("the FHIR record is for another patient than context.patientId")


def _read(bundle: Any, patient_id: str) -> ReadResult:
    try:
        result = read_bundle(bundle)
    except InputError as e:
        first = e.problems[0] if e.problems else None
        raise _bad(f"the patient's FHIR record is not valid FHIR R4B: {first}"[:300]) from None
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        log.warning("patient record rejected: %s", type(e).__name__)
        raise _bad("the patient's FHIR record could not be read") from None
    _same_patient(result, patient_id)
    return result


def cds_router(
    auth_settings: CdsAuthSettings,
    cache: Replays,
    base_url: str,
    public_url: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    kb: KnowledgeBase | None = None,
    reviews: Callable[[], ReviewBook] | None = None,
) -> APIRouter:
    """The CDS Hooks routes, authenticated as CDS Hooks 2.0 asks.

    `base_url`: the server's public URL, the JWT audience base (required; see cds_auth); `public_url`: the
    base of the web pages cards link to (default: `base_url`); `transport`: the httpx transport for the FHIR
    server fallback (default: the network; `app.state.fhir_transport`, when set, wins, for tests); `reviews`:
    the current review status of the rows (default: the knowledge base's review file).
    """
    router = APIRouter(tags=["cds-hooks"])
    auth = cds_auth_dependency(auth_settings, cache, base_url=base_url)
    pages_base = public_url or base_url

    def knowledge() -> KnowledgeBase:
        return kb or load_knowledge()

    def book() -> ReviewBook:
        return reviews() if reviews is not None else knowledge().review_book

    def links_for(request: Request) -> Links:
        return Links(pages_base.rstrip("/"))

    def transport_for(request: Request) -> httpx.AsyncBaseTransport | None:
        return getattr(request.app.state, "fhir_transport", None) or transport

    async def _json_object(request: Request) -> dict[str, Any]:
        try:
            body = strictjson.loads(await request.body())  # the one strict reader of every entry point
        except InputError as exc:
            raise _bad(f"request body is not JSON mcrc accepts: {exc.problems[0]}") from None
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        return body

    def _common(body: dict[str, Any], hook: str) -> tuple[dict[str, Any], str]:
        if body.get("hook") != hook:
            raise _bad(f"hook must be '{hook}'")
        if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
            raise _bad("hookInstance is required")
        context = body.get("context")
        if not isinstance(context, dict) or not isinstance(context.get("patientId"), str) \
                or not context["patientId"]:
            raise _bad("context.patientId is required")
        if not _FHIR_ID.match(context["patientId"]):
            raise _bad("context.patientId is not a FHIR id")
        return context, context["patientId"]

    @router.get("/cds-services")
    async def discovery() -> dict[str, Any]:
        return {"services": SERVICES}

    @router.post(f"/cds-services/{PATIENT_VIEW_ID}")
    async def patient_view(request: Request, claims: Claims = Depends(auth)) -> Response:
        body = await _json_object(request)
        _, patient_id = _common(body, "patient-view")
        bundle, notes = await patient_record(body, patient_id, transport_for(request))
        log.info("patient-view hookInstance=%s iss=%s", str(body["hookInstance"])[:80], claims.get("iss"))
        kb, links, reviewed = knowledge(), links_for(request), book()
        record = _record_key(bundle, kb, reviewed)
        key = None if record is None else (*record, patient_id, links.base, tuple(notes))
        kept = None if key is None else _PATIENT_VIEW_CARDS.get(key)
        if kept is not None:  # made for this very record, patient, day and link base: only the uuids change
            return _cards(_fresh_uuids(pickle.loads(kept)))
        result, assessment = _read_and_assess(bundle, patient_id, kb, record, reviewed)
        cards = build_cards(assessment, links, notes + result.warnings, patient_id)
        if key is not None:
            _PATIENT_VIEW_CARDS.put(key, pickle.dumps(cards, protocol=pickle.HIGHEST_PROTOCOL))
        return _cards(cards)

    @router.post(f"/cds-services/{ORDER_SELECT_ID}")
    async def order_select(request: Request, claims: Claims = Depends(auth)) -> Response:
        body = await _json_object(request)
        context, patient_id = _common(body, "order-select")
        selections = context.get("selections")
        if not isinstance(selections, list) or not selections or not all(isinstance(s, str) for s in selections):
            raise _bad("context.selections must be a non-empty list of references")
        try:
            orders = read_draft_orders(context.get("draftOrders"), selections)
        except InputError as e:
            first = e.problems[0] if e.problems else None
            raise _bad(f"context.draftOrders is not valid: {first}"[:300]) from None
        log.info("order-select hookInstance=%s iss=%s", str(body["hookInstance"])[:80], claims.get("iss"))
        if not any(o.selected for o in orders):
            return _cards([])  # nothing selected that mcrc judges (e.g. only non-medication orders)
        bundle, notes = await patient_record(body, patient_id, transport_for(request))
        result, assessment = _read_and_assess(bundle, patient_id, knowledge(), book=book())
        return _cards(order_cards(knowledge(), orders, result, assessment, links_for(request), patient_id, notes))

    def _feedback_route(service_id: str) -> None:
        @router.post(f"/cds-services/{service_id}/feedback", name=f"feedback-{service_id}")
        async def feedback(request: Request, claims: Claims = Depends(auth)) -> dict[str, Any]:
            body = await _json_object(request)
            items = body.get("feedback")
            if not isinstance(items, list) or not items:
                raise _bad("feedback must be a non-empty list")
            for f in items:
                if not isinstance(f, dict) or not isinstance(f.get("card"), str) \
                        or f.get("outcome") not in _FEEDBACK_OUTCOMES or not isinstance(f.get("outcomeTimestamp"),
                                                                                          str):
                    raise _bad("each feedback needs card, outcome (accepted|overridden) and outcomeTimestamp")
                log.info("feedback service=%s card=%s outcome=%s", service_id, f["card"][:80], f["outcome"])
            return {}

    for sid in (PATIENT_VIEW_ID, ORDER_SELECT_ID):
        _feedback_route(sid)
    return router
