"""The REST API under /api/v1: `create_app(Settings(database_url=...))` returns a FastAPI app.

API tokens live in the store (`mcrc user token create NAME`), kept only as their sha256 digest and
tied to a store user; its role decides (through the store's own StoreForbidden) what it may do.
`app.state.authenticate(raw_token)` is the one place a token becomes a user (the web login uses it).
`open_assess=True` lets `POST /assess` (stateless, nothing stored) run without a token, for local use only.
"""


import gc
import re
import typing
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Header, Path, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

import mcrc
from mcrc import strictjson
from mcrc.api import errors
from mcrc.api.errors import ApiError, Problem, responses
from mcrc.api.security import SecurityMiddleware
from mcrc.config import PUBLIC_URL_NEEDED, PUBLIC_URL_SETTING, ConfigError, Settings, load_config
from mcrc.engine import Assessment
from mcrc.errors import Problem as InputProblem
from mcrc.knowledge.reviews import MAX_COMMENT, RowReview
from mcrc.patient import PastDate, Patient, Text
from mcrc.store.api import AssessmentRecord, CaseRecord, DecisionRecord, ReviewRecord, Store
from mcrc.store.errors import StoreConflict, StoreError, StoreInvalid, StoreNotReady
from mcrc.store.models import DEVIATION_REASONS, PARTICIPANT_ROLES, ROLES
from mcrc.vocabulary import load_vocabulary

__all__ = ["PREFIX", "Settings", "app_from_environment", "create_app"]  # Settings: from mcrc.config

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


class RowOut(BaseModel):
    id: str
    title: str
    citations: list[dict[str, Any]]


class TableOut(BaseModel):
    id: str
    title: str
    source: str
    hit: str
    evidence: bool
    rows: list[RowOut]


class KnowledgeOut(BaseModel):
    version: str
    sources: dict[str, dict[str, Any]]
    tables: list[TableOut]


class TermOut(BaseModel):
    code: str
    label: str
    definition: str | None = None
    klass: str | None = None


class Health(BaseModel):
    status: str


_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
NON_BLANK_TEXT_PATTERN = rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"  # Text with one visible character


def _decision_codes() -> list[str]:
    vocab = load_vocabulary()
    return [*vocab.codes("actions"), *vocab.codes("regimens")]


def _known_code(code: str) -> str:
    if code not in set(_decision_codes()):
        raise ValueError(f"'{code}' is not an action or regimen code (see GET /api/v1/vocab)")
    return code


DecisionCode = Annotated[str, AfterValidator(_known_code),
                         Field(json_schema_extra=lambda schema: schema.update(enum=_decision_codes()))]
Role = Literal["clinician", "coordinator", "auditor", "admin"]
# a meeting participant's role: the specialty at the board (store.models.BOARD_ROLES) or, as older records have it,
# the store role
ParticipantRole = Literal["surgeon", "hepatobiliary_surgeon", "thoracic_surgeon", "colorectal_surgeon",
                          "medical_oncologist", "radiation_oncologist", "radiologist", "interventional_radiologist",
                          "pathologist", "gastroenterologist", "nuclear_medicine", "nurse_specialist",
                          "palliative_care", "geriatrician", "other", "clinician", "coordinator", "auditor", "admin"]
Deviation = Literal["patient_preference", "fitness_or_comorbidity", "new_information", "clinical_trial",
                    "resource_unavailable", "clinical_judgement", "other"]


class _DecisionBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    strategies: list[DecisionCode] = Field(min_length=1, max_length=50,
                                           description="Chosen action or regimen codes, in order (GET /api/v1/vocab)")
    rationale: str = Field(min_length=1, max_length=10_000, pattern=NON_BLANK_TEXT_PATTERN,
                           description="Why (free text with at least one visible character)")
    participants: dict[ParticipantRole, list[Annotated[Text, Field(min_length=1, max_length=200)]]] = Field(
        default_factory=dict, description="Names by their role at the meeting: " + ", ".join(PARTICIPANT_ROLES))
    meeting_date: PastDate | None = Field(None, description="Day of the MDT meeting (default: today, UTC)")


class ConcordantDecision(_DecisionBase):
    """The board followed the assessment."""

    concordant: Literal[True] = Field(description="The decision follows the assessment")


class DeviatingDecision(_DecisionBase):
    """The board decided otherwise; why is required."""

    concordant: Literal[False] = Field(description="The decision does not follow the assessment")
    deviation: Deviation = Field(description="Why the board deviated")
    deviation_text: Text | None = Field(None, max_length=10_000)


# The MDT's decision on a case, recorded against the case's newest assessment. A union tagged by `concordant`,
# so that the OpenAPI says what the store enforces: a deviation reason exactly when the decision deviates.
DecisionIn = Annotated[ConcordantDecision | DeviatingDecision, Field(discriminator="concordant")]
assert set(typing.get_args(Role)) == set(ROLES) and set(typing.get_args(Deviation)) == set(DEVIATION_REASONS)
assert set(typing.get_args(ParticipantRole)) == set(PARTICIPANT_ROLES)


def _row_ids() -> list[str]:
    return list(mcrc.load_knowledge().rows)


def _known_row(row: str) -> str:
    if row not in mcrc.load_knowledge().rows:
        raise ValueError(f"'{row}' is not a row of the knowledge base (see GET /api/v1/kb)")
    return row


RowId = Annotated[str, AfterValidator(_known_row),
                  Field(description="A row id of the knowledge base (GET /api/v1/kb)",
                        json_schema_extra=lambda schema: schema.update(enum=_row_ids()))]


class ReviewedMark(BaseModel):
    """The row says what its source says."""

    model_config = ConfigDict(extra="forbid", strict=True)

    row: RowId
    status: Literal["reviewed"] = Field(description="Reviewed: the row says what its source says")
    comment: Text | None = Field(None, max_length=MAX_COMMENT, description="Optional remark")


class ConcernMark(BaseModel):
    """The row may not say what its source says; why is required."""

    model_config = ConfigDict(extra="forbid", strict=True)

    row: RowId
    status: Literal["concern"] = Field(description="A concern: the row may be wrong")
    comment: str = Field(min_length=1, max_length=MAX_COMMENT, pattern=NON_BLANK_TEXT_PATTERN,
                         description="What may be wrong (free text with at least one visible character)")


# A clinician's review mark of a row, tagged by `status` (a comment is required with a concern).
ReviewMarkIn = Annotated[ReviewedMark | ConcernMark, Field(discriminator="status")]


class ReviewsOut(BaseModel):
    """The review marks made in the app and the review status of every row that results (with the knowledge
    base's own review file)."""

    kb_version: str
    reviews_from: list[Literal["knowledge", "store"]] = Field(
        description="Where the statuses were read: the knowledge base's review file, and the store's marks")
    marks: list[ReviewRecord] = Field(description="Every mark made in the app, oldest first")
    rows: dict[str, RowReview] = Field(description="The effective status of every row of the knowledge base")


class DiffEnd(BaseModel):
    assessment_id: int
    case_version: int
    kb_version: str
    engine_version: str
    created_at: str


class SectionChange(BaseModel):
    added: list[str]
    removed: list[str]


class DiffOut(BaseModel):
    """What the newer assessment adds or removes, per section, compared with the older one."""

    model_config = ConfigDict(populate_by_name=True)

    case_id: int
    from_: DiffEnd = Field(alias="from")
    to: DiffEnd
    changed: bool
    sections: dict[str, SectionChange]


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


_NO_TRACE = {"trace"}
_PATIENT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Patient"}}}}}


async def _patient_json(request: Request) -> Any:
    """The request body through the strict reader (JsonInputError: 400 with the line, column or field path)."""
    return strictjson.loads(await request.body())


def app_from_environment() -> FastAPI:
    """The app a `mcrc serve --workers N` worker runs: settings from MCRC_CONFIG and MCRC_* variables, which the
    parent process has validated and completed (shared secret key and replay cache) before starting it."""
    import os

    return create_app(load_config(None, os.environ).settings())


def create_app(settings: Settings) -> FastAPI:
    if settings.cds is not None and not settings.public_url:
        raise ConfigError([InputProblem(PUBLIC_URL_SETTING, PUBLIC_URL_NEEDED)])
    # the review status of the rows is read again from the store as often as tokens are (marks made through this
    # server count at once; those of another worker or the command line within `token_cache_seconds`)
    store = Store(settings.database_url, token_cache_seconds=settings.token_cache_seconds,
                  review_cache_seconds=settings.token_cache_seconds)
    bearer = HTTPBearer(auto_error=False, description="API token (`mcrc user token create NAME`)")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Load the knowledge base before the first request, then move everything alive at start-up (knowledge
        # base, compiled rules, FHIR models, app) out of the collector's reach: otherwise each full collection
        # walks those long-lived objects again and stalls requests for tens of milliseconds.
        # The warm-up runs the request paths once first, so what they build lazily is frozen too (decision 0020).
        from mcrc.api.warmup import warm_up

        warm_up(store.knowledge, with_cds=settings.cds is not None)
        gc.collect()
        gc.freeze()
        yield
        store.close()
        if replays is not None and hasattr(replays, "close"):
            replays.close()

    # No /docs or /redoc: Swagger UI and ReDoc load from a CDN, which the CSP (and the no-internet rule) refuses.
    app = FastAPI(title="mcrc API", version=mcrc.__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Cited decision support for metastatic colorectal cancer. Errors are RFC 9457 "
                              "problem+json.")
    app.state.store, app.state.settings = store, settings
    errors.install(app)
    app.add_middleware(SecurityMiddleware, max_body_bytes=settings.max_body_bytes)
    replays = None
    if settings.cds is not None:
        from mcrc.api.cds_auth import ReplayCache, SqliteReplayCache
        from mcrc.api.cdshooks import cds_router

        replays = SqliteReplayCache(settings.replay_cache) if settings.replay_cache else ReplayCache()
        app.include_router(cds_router(settings.cds, replays, base_url=settings.public_url,
                                      public_url=settings.public_url, kb=store.knowledge, reviews=store.review_book))

    def _unauthorized(detail: str) -> ApiError:
        return ApiError(401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})

    def authenticate(token: str) -> Caller | None:
        """The store user a raw API token stands for, or None. Shared by the API and the web pages."""
        try:
            who = store.resolve_token(token)
        except SQLAlchemyError:
            raise StoreError("cannot read API tokens") from None
        return None if who is None else Caller(who.name, who.role)

    app.state.authenticate = authenticate

    def _resolve(creds: HTTPAuthorizationCredentials | None) -> Caller:
        if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
            raise _unauthorized("an API token is required (Authorization: Bearer TOKEN)")
        who = authenticate(creds.credentials)
        if who is None:
            raise _unauthorized("the API token is not valid")
        return who

    def caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        return _resolve(creds)

    # async: the token lookup is a sub-millisecond indexed read; a thread hop per dependency would cost more.
    async def assess_caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller | None:
        return None if settings.open_assess and creds is None else _resolve(creds)

    from mcrc.api.fhir_routes import fhir_router
    app.include_router(fhir_router(assess_caller))  # POST /api/v1/fhir/assess, authenticated like /assess
    from mcrc.api.extract_routes import extract_router
    app.include_router(extract_router(assess_caller))  # POST /api/v1/extract (report text to a draft), like /assess

    # ---- stateless ---------------------------------------------------------------------------
    @app.post(f"{PREFIX}/assess", response_model=Assessment, tags=["assess"], openapi_extra=_PATIENT_BODY,
              responses=responses(400, 401, 422, 500),
              summary="Assess a patient without storing it")
    async def assess(patient: Annotated[Any, Depends(_patient_json)],
                     _: Annotated[Caller | None, Depends(assess_caller)],
               evidence: Annotated[bool | None, Query(description="false hides newer evidence")] = None,
               trace: Annotated[bool, Query(description="true adds `trace`: every table and row with its result "
                                                        "(for viewers of the path taken; two thirds of the size)")]
               = False) -> Response:
        # Run on the event loop: about a millisecond of CPU that a worker thread could not run any faster
        # (one process, one GIL), while the hop to and from the thread pool costs several under load.
        a = mcrc.assess(mcrc.parse_patient(patient), kb=store.knowledge, show_evidence=evidence, trace=trace,
                        reviews=store.review_book())
        # Serialised once by pydantic-core: FastAPI's response_model path would validate the Assessment again
        # and encode it field by field, several times the cost of the assessment itself. Without `?trace=true`
        # the answer leaves the trace out (decision 0020): the rationale, possible rows and unknown facts
        # explain it, and the trace would triple its size.
        return Response(a.model_dump_json(exclude=None if trace else _NO_TRACE), media_type="application/json")

    @app.get(f"{PREFIX}/kb", response_model=KnowledgeOut, tags=["reference"], responses=responses(500),
             summary="Decision tables and rows with their citations")
    def kb() -> KnowledgeOut:
        k = store.knowledge
        return KnowledgeOut(version=k.version, sources=k.sources, tables=[
            TableOut(id=t.id, title=t.title, source=t.source, hit=str(t.hit), evidence=t.evidence,
                     rows=[RowOut(id=r.id, title=r.title, citations=[c.as_dict() for c in r.citations])
                           for r in t.rows])
            for t in k.tables])

    @app.get(f"{PREFIX}/vocab", response_model=dict[str, list[TermOut]], tags=["reference"],
             responses=responses(500), summary="Codes by vocabulary section")
    def vocab() -> dict[str, list[TermOut]]:
        v = store.knowledge.vocabulary
        return {section: [TermOut(code=t.code, label=t.label, definition=t.definition, klass=t.klass)
                          for t in terms.values()] for section, terms in v.terms.items()}

    @app.get(f"{PREFIX}/health", response_model=Health, tags=["ops"], summary="The process is alive")
    async def health() -> Health:
        return Health(status="ok")

    @app.get(f"{PREFIX}/ready", response_model=Health, tags=["ops"], responses=responses(503),
             summary="The store is reachable and at the newest schema")
    def ready() -> Health:
        try:
            store.ping()
        except SQLAlchemyError:
            raise StoreError("store unreachable") from None
        store.require_current()
        return Health(status="ready")

    # ---- cases --------------------------------------------------------------------------------
    Auth = Annotated[Caller, Depends(caller)]

    @app.get(f"{PREFIX}/cases", response_model=list[CaseRecord], tags=["cases"], responses=responses(401, 403, 503),
             summary="Cases not deleted, oldest first")
    def list_cases(who: Auth) -> list[CaseRecord]:
        return [c for c in store.list_cases(who.name)]

    @app.post(f"{PREFIX}/cases", response_model=CaseRecord, status_code=201, tags=["cases"],
              openapi_extra=_PATIENT_BODY, responses=responses(400, 401, 403, 422, 503),
              summary="Validate a patient and register it as a new case (version 1)")
    def create_case(patient: Annotated[Any, Depends(_patient_json)], who: Auth, response: Response) -> CaseRecord:
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

    @app.put(f"{PREFIX}/cases/{{case_id:int}}", response_model=CaseRecord, tags=["cases"], openapi_extra=_PATIENT_BODY,
             responses=responses(400, 401, 403, 404, 412, 422, 428, 503),
             summary="Replace the patient of a case (If-Match: the ETag you read; 412 if it changed since)")
    def update_case(case_id: CaseId, patient: Annotated[Any, Depends(_patient_json)], who: Auth, response: Response,
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

    # ---- clinical review of knowledge-base rows (issue 17) ---------------------------------------
    @app.get(f"{PREFIX}/kb/reviews", response_model=ReviewsOut, tags=["reference"],
             responses=responses(401, 403, 503), summary="Clinical review marks and the review status of every row")
    def kb_reviews(who: Auth) -> ReviewsOut:
        marks = store.reviews(who.name)
        book = store.review_book(fresh=True)
        return ReviewsOut(kb_version=book.kb_version, reviews_from=list(book.sources), marks=marks,
                          rows={rid: book.get(rid) for rid in store.knowledge.rows})

    @app.post(f"{PREFIX}/kb/reviews", response_model=ReviewRecord, status_code=201, tags=["reference"],
              responses=responses(400, 401, 403, 422, 503),
              summary="Mark a knowledge-base row reviewed or raise a concern (clinicians)")
    def mark_row(body: Annotated[ReviewMarkIn, Body()], who: Auth) -> ReviewRecord:
        return store.mark_row(body.row, body.status, who.name, body.comment)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            patient = Patient.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(patient.pop("$defs", {}))
            comps["Patient"] = patient
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(problem.pop("$defs", {}))
            comps["Problem"] = problem
            # What the security middleware may answer on any route: 500, and 400/413 where a body is sent.
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    extra = (400, 413, 500) if "requestBody" in op else (500,)
                    for code, spec in responses(*extra).items():
                        op.setdefault("responses", {}).setdefault(str(code), spec)
            # A header or query parameter is absent or a string: never JSON null (FastAPI writes `X | None` as
            # anyOf [X, null], and schemathesis then sends the text "null").
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    for param in op.get("parameters", []):
                        options = param["schema"].get("anyOf", [])
                        if len(options) == 2 and {"type": "null"} in options:
                            kept = next(o for o in options if o != {"type": "null"})
                            param["schema"] = {**{k: v for k, v in param["schema"].items() if k != "anyOf"}, **kept}
            # OpenAPI discriminators map string values; `concordant` is a boolean (schemathesis reads the mapping
            # keys "true"/"false" as strings and can then build no body). The two branches' `const` already tell
            # them apart, and the server still validates with pydantic's discriminated union.
            decide_body = schema["paths"][f"{PREFIX}/cases/{{case_id}}/decisions"]["post"]["requestBody"]
            decide_body["content"]["application/json"]["schema"].pop("discriminator", None)
            # PUT needs If-Match (428 without it); FastAPI cannot mark an optional parameter required, so say it here
            for param in schema["paths"][f"{PREFIX}/cases/{{case_id}}"]["put"]["parameters"]:
                if param["name"].lower() == "if-match":
                    param["required"] = True
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    from mcrc.web import install as install_web  # the clinicians' pages (/, /cases..., /kb, /login, /static)

    install_web(app, store, settings)
    return app
