"""The routes of stored cases under /api/v1/cases: cases, their assessments and diffs, and the MDT's decisions."""

# No `from __future__ import annotations` here: FastAPI must see the `Auth` dependency (a closure variable)
# in the endpoints' annotations as an object, not as a string it cannot resolve.
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Path, Response

from mcrc.api.errors import ApiError, responses
from mcrc.api.schemas import PATIENT_BODY, PREFIX, Caller, DecisionIn, DeviatingDecision, DiffOut, patient_json
from mcrc.errors import Problem as InputProblem
from mcrc.store.api import AssessmentRecord, CaseRecord, DecisionRecord, Store
from mcrc.store.errors import StoreConflict, StoreInvalid, StoreNotReady

CaseId = Annotated[int, Path(ge=1, le=2_147_483_647, description="The case's id")]  # fits every backend's INTEGER
_ETAG_PATTERN = r'^"?(\d{1,9})"?$'  # what GET sends ("3"); unquoted accepted too
_ETAG = re.compile(_ETAG_PATTERN)
IfMatch = Annotated[str | None, Header(pattern=_ETAG_PATTERN, max_length=64,
                                       description='The case\'s ETag as GET returned it, e.g. "3"')]


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(value: str | None, required: bool) -> int | None:
    """The case version an If-Match header names (`"3"`, as GET sent in ETag); 428 when required and absent."""
    if value is None:
        if required:
            raise ApiError(428, "precondition-required", "Precondition required",
                           'send If-Match with the ETag of the case you edited (e.g. If-Match: "3")')
        return None
    m = _ETAG.match(value)
    if m is None:
        raise ApiError(400, "bad-if-match", "Bad If-Match header",
                       'If-Match must be the ETag of the case as GET returned it, e.g. "3"')
    return int(m.group(1))


def _stale(exc: StoreConflict) -> ApiError:
    return ApiError(412, "precondition-failed", "Precondition failed", str(exc))


def add_case_routes(app: FastAPI, store: Store, caller: Callable[..., Caller]) -> None:
    """Add the case routes to the app, authenticated by `caller` (the app's token dependency). Added to the app
    itself, not through a router, so that they stand in `app.routes` as before (the Allow header of a 405 reads
    the methods there)."""
    Auth = Annotated[Caller, Depends(caller)]

    @app.get(f"{PREFIX}/cases", response_model=list[CaseRecord], tags=["cases"], responses=responses(401, 403, 503),
             summary="Cases not deleted, oldest first")
    def list_cases(who: Auth) -> list[CaseRecord]:
        return [c for c in store.list_cases(who.name)]

    @app.post(f"{PREFIX}/cases", response_model=CaseRecord, status_code=201, tags=["cases"],
              openapi_extra=PATIENT_BODY, responses=responses(400, 401, 403, 422, 503),
              summary="Validate a patient and register it as a new case (version 1)")
    def create_case(patient: Annotated[Any, Depends(patient_json)], who: Auth, response: Response) -> CaseRecord:
        rec = store.add_case(patient, who.name)
        response.headers["Location"] = f"{PREFIX}/cases/{rec.id}"
        return rec

    @app.post(f"{PREFIX}/cases/reassess-stale", response_model=list[DiffOut], tags=["cases"],
              responses=responses(401, 403, 503),
              summary="Assess again every case last assessed with another knowledge base or engine version")
    def reassess_stale(who: Auth) -> list[DiffOut]:
        return [DiffOut.model_validate(d) for _, d in store.reassess_stale(who.name)]

    @app.get(f"{PREFIX}/cases/{{case_id:int}}", response_model=CaseRecord, tags=["cases"],
             responses=responses(401, 403, 404, 422, 503), summary="A case (its ETag is its version)")
    def get_case(case_id: CaseId, who: Auth, response: Response) -> CaseRecord:
        rec = store.get_case(case_id, who.name)
        response.headers["ETag"] = _etag(rec.version)
        return rec

    @app.put(f"{PREFIX}/cases/{{case_id:int}}", response_model=CaseRecord, tags=["cases"], openapi_extra=PATIENT_BODY,
             responses=responses(400, 401, 403, 404, 412, 422, 428, 503),
             summary="Replace the patient of a case (If-Match: the ETag you read; 412 if it changed since)")
    def update_case(case_id: CaseId, patient: Annotated[Any, Depends(patient_json)], who: Auth, response: Response,
                    if_match: IfMatch = None,
                    ) -> CaseRecord:
        expected = _if_match(if_match, required=True)
        try:
            rec = store.update_case(case_id, patient, expected, who.name)
        except StoreConflict as exc:
            raise _stale(exc) from None
        response.headers["ETag"] = _etag(rec.version)
        return rec

    @app.delete(f"{PREFIX}/cases/{{case_id:int}}", status_code=204, response_class=Response, tags=["cases"],
                responses=responses(400, 401, 403, 404, 412, 422, 503),
                summary="Soft-delete a case (kept for audit; If-Match optional)")
    def delete_case(case_id: CaseId, who: Auth,
                    if_match: IfMatch = None,
                    ) -> Response:
        try:
            store.delete_case(case_id, who.name, expected_version=_if_match(if_match, required=False))
        except StoreConflict as exc:
            raise _stale(exc) from None
        return Response(status_code=204)

    @app.get(f"{PREFIX}/cases/{{case_id:int}}/assessments", response_model=list[AssessmentRecord], tags=["cases"],
             responses=responses(401, 403, 404, 422, 503), summary="Every stored assessment of a case, oldest first")
    def list_assessments(case_id: CaseId, who: Auth) -> list[AssessmentRecord]:
        return [a for a in store.assessments(case_id, who.name)]

    @app.get(f"{PREFIX}/cases/{{case_id:int}}/assessments/diff", response_model=DiffOut, tags=["cases"],
             responses=responses(401, 403, 404, 409, 422, 503),
             summary="What the newest assessment changed from the one before (409 with fewer than two)")
    def diff_assessments(case_id: CaseId, who: Auth) -> DiffOut:
        try:
            return DiffOut.model_validate(store.diff(case_id, who.name))
        except StoreNotReady as exc:
            raise ApiError(409, "not-ready", "The case is not ready for this", str(exc.problems[0])) from None

    @app.post(f"{PREFIX}/cases/{{case_id:int}}/decisions", response_model=DecisionRecord, status_code=201,
              tags=["cases"],
              responses=responses(400, 401, 403, 404, 409, 422, 503),
              summary="Record the MDT decision on the case's newest assessment (coordinators)")
    def decide(case_id: CaseId, body: Annotated[DecisionIn, Body()], who: Auth, response: Response) -> DecisionRecord:
        deviating = isinstance(body, DeviatingDecision)
        try:
            d = store.decide(case_id, strategies=body.strategies, rationale=body.rationale,
                             concordant=body.concordant, user=who.name,
                             deviation=body.deviation if deviating else None,
                             deviation_text=body.deviation_text if deviating else None,
                             participants=dict(body.participants), meeting_date=body.meeting_date)
        except StoreNotReady as exc:
            raise ApiError(409, "not-ready", "The case is not ready for this", str(exc.problems[0])) from None
        except StoreInvalid as exc:  # the store names its arguments; the API names the body fields
            fields = {"strategy": "strategies"}
            raise StoreInvalid([InputProblem(fields.get(p.where, p.where), p.message, p.allowed)
                                for p in exc.problems]) from None
        response.headers["Location"] = f"{PREFIX}/cases/{case_id}/decisions"
        return d

    @app.get(f"{PREFIX}/cases/{{case_id:int}}/decisions", response_model=list[DecisionRecord], tags=["cases"],
             responses=responses(401, 403, 404, 422, 503), summary="The MDT decisions recorded on a case")
    def list_decisions(case_id: CaseId, who: Auth) -> list[DecisionRecord]:
        return [d for d in store.decisions(case_id, who.name)]

    @app.post(f"{PREFIX}/cases/{{case_id:int}}/assess", response_model=AssessmentRecord, status_code=201,
              tags=["cases"], responses=responses(401, 403, 404, 409, 422, 500, 503),
              summary="Assess the stored case and keep the assessment")
    def assess_case(case_id: CaseId, who: Auth) -> AssessmentRecord:
        return store.assess(case_id, who.name)
