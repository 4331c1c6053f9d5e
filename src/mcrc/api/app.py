"""The REST API under /api/v1: `create_app(Settings(database_url=...))` returns a FastAPI app.

API tokens live in the store (`mcrc user token create NAME`), kept only as their sha256 digest and
tied to a store user; its role decides (through the store's own StoreForbidden) what it may do.
`app.state.authenticate(raw_token)` is the one place a token becomes a user (the web login uses it).
`open_assess=True` lets `POST /assess` (stateless, nothing stored) run without a token, for local use only.
"""


import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

import mcrc
from mcrc.api import errors
from mcrc.api.errors import ApiError, Problem, responses
from mcrc.engine import Assessment
from mcrc.patient import Patient
from mcrc.store.api import CaseRecord, Store
from mcrc.store.errors import StoreError

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: MCRC_DATABASE_URL or sqlite:///mcrc.db (as the Store decides)
    open_assess: bool = False
    cds: Any = None  # mcrc.api.cds_auth.CdsAuthSettings: mounts the CDS Hooks services when set
    public_url: str | None = None  # the URL EHRs call (JWT audience); None: taken from the request
    secret_key: str | None = None  # signs web session cookies and CSRF tokens; None: a random key per process
    max_body_bytes: int = 1_000_000  # larger request bodies are refused with 413

    def __repr__(self) -> str:
        """Secrets masked: a database password and the secret key never reach a log or a traceback."""
        url = None
        if self.database_url is not None:
            from sqlalchemy.engine import make_url

            try:
                url = make_url(self.database_url).render_as_string(hide_password=True)
            except Exception:  # an unparsable URL is shown not at all rather than maybe with its password
                url = "***"
        return (f"Settings(database_url={url!r}, open_assess={self.open_assess}, cds={'on' if self.cds else 'off'}, "
                f"public_url={self.public_url!r}, secret_key={'***' if self.secret_key else None}, "
                f"max_body_bytes={self.max_body_bytes})")


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


class StoredAssessmentOut(BaseModel):
    id: int
    case_id: int
    case_version: int
    kb_version: str
    engine_version: str
    input_hash: str
    created_at: str
    assessment: dict[str, Any]


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


_PATIENT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Patient"}}}}}


async def _patient_json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed-json", "Malformed JSON", f"the request body is not valid JSON: {exc}") from None


def create_app(settings: Settings) -> FastAPI:
    store = Store(settings.database_url)
    bearer = HTTPBearer(auto_error=False, description="API token (`mcrc user token create NAME`)")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="mcrc API", version=mcrc.__version__, lifespan=lifespan,
                  description="Cited decision support for metastatic colorectal cancer. Errors are RFC 9457 "
                              "problem+json.")
    app.state.store, app.state.settings = store, settings
    errors.install(app)
    if settings.cds is not None:
        from mcrc.api.cds_auth import ReplayCache
        from mcrc.api.cdshooks import cds_router

        app.include_router(cds_router(settings.cds, ReplayCache(), base_url=settings.public_url,
                                      public_url=settings.public_url, kb=store.knowledge))

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

    def assess_caller(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller | None:
        return None if settings.open_assess and creds is None else _resolve(creds)

    from mcrc.api.fhir_routes import fhir_router
    app.include_router(fhir_router(assess_caller))  # POST /api/v1/fhir/assess, authenticated like /assess

    # ---- stateless ---------------------------------------------------------------------------
    @app.post(f"{PREFIX}/assess", response_model=Assessment, tags=["assess"], openapi_extra=_PATIENT_BODY,
              responses=responses(400, 401, 422, 500),
              summary="Assess a patient without storing it")
    def assess(patient: Annotated[Any, Depends(_patient_json)], _: Annotated[Caller | None, Depends(assess_caller)],
               evidence: Annotated[bool | None, Query(description="false hides newer evidence")] = None) -> Any:
        return mcrc.assess(mcrc.parse_patient(patient), kb=store.knowledge, show_evidence=evidence)

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
    def health() -> Health:
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

    @app.get(f"{PREFIX}/cases", response_model=list[CaseRecord], tags=["cases"], responses=responses(401, 403, 503))
    def list_cases(who: Auth) -> list[CaseRecord]:
        return [c for c in store.list_cases(who.name)]

    @app.post(f"{PREFIX}/cases", response_model=CaseRecord, status_code=201, tags=["cases"],
              openapi_extra=_PATIENT_BODY, responses=responses(400, 401, 403, 422, 503))
    def create_case(patient: Annotated[Any, Depends(_patient_json)], who: Auth, response: Response) -> CaseRecord:
        rec = store.add_case(patient, who.name)
        response.headers["Location"] = f"{PREFIX}/cases/{rec.id}"
        return rec

    @app.get(f"{PREFIX}/cases/{{case_id}}", response_model=CaseRecord, tags=["cases"],
             responses=responses(401, 403, 404, 422, 503))
    def get_case(case_id: int, who: Auth) -> CaseRecord:
        return store.get_case(case_id, who.name)

    @app.post(f"{PREFIX}/cases/{{case_id}}/assess", response_model=StoredAssessmentOut, status_code=201,
              tags=["cases"], responses=responses(401, 403, 404, 409, 422, 500, 503),
              summary="Assess the stored case and keep the assessment")
    def assess_case(case_id: int, who: Auth) -> StoredAssessmentOut:
        return StoredAssessmentOut(**vars(store.assess(case_id, who.name)))

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
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    from mcrc.web import install as install_web  # the clinicians' pages (/, /cases..., /kb, /login, /static)

    install_web(app, store, settings)
    return app
