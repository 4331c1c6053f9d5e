"""The REST API under /api/v1: `create_app(Settings(database_url=...))` returns a FastAPI app.

API tokens live in the store (`mcrc user token create NAME`), kept only as their sha256 digest and
tied to a store user; its role decides (through the store's own StoreForbidden) what it may do.
`app.state.authenticate(raw_token)` is the one place a token becomes a user (the web login uses it).
`open_assess=True` lets `POST /assess` (stateless, nothing stored) run without a token, for local use only.
This module composes the app (settings, store, authentication, the routers, the web pages) and holds the stateless
and review routes; the bodies are in `mcrc.api.schemas`, the case routes in `mcrc.api.cases_routes`.
"""


import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Response
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

import mcrc
from mcrc.api import errors
from mcrc.api.cases_routes import add_case_routes
from mcrc.api.errors import ApiError, Problem, responses
from mcrc.api.schemas import (
    PATIENT_BODY,
    PREFIX,
    Caller,
    Health,
    KnowledgeOut,
    ReviewMarkIn,
    ReviewsOut,
    RowOut,
    TableOut,
    TermOut,
    patient_json,
)
from mcrc.api.security import SecurityMiddleware
from mcrc.config import PUBLIC_URL_NEEDED, PUBLIC_URL_SETTING, ConfigError, Settings, load_config
from mcrc.engine import Assessment
from mcrc.errors import Problem as InputProblem
from mcrc.patient import Patient
from mcrc.store.api import ReviewRecord, Store
from mcrc.store.errors import StoreError

# Settings: from mcrc.config; PREFIX: from mcrc.api.schemas
__all__ = ["PREFIX", "Settings", "app_from_environment", "create_app"]

_NO_TRACE = {"trace"}


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
    @app.post(f"{PREFIX}/assess", response_model=Assessment, tags=["assess"], openapi_extra=PATIENT_BODY,
              responses=responses(400, 401, 422, 500),
              summary="Assess a patient without storing it")
    async def assess(patient: Annotated[Any, Depends(patient_json)],
                     _: Annotated[Caller | None, Depends(assess_caller)],
               evidence: Annotated[bool | None, Query(description="false hides newer evidence")] = None,
               trace: Annotated[bool, Query(description="true adds `trace`: every table and row with its result "
                                                        "(for viewers of the path taken; two thirds of the size)")]
               = False) -> Response:
        # Run on the event loop: about a millisecond of CPU that a worker thread could not run any faster
        # (one process, one GIL), while the hop to and from the thread pool costs several under load.
        return assess_answer(patient, evidence, trace)

    def assess_answer(patient: Any, evidence: bool | None, trace: bool) -> Response:
        """The answer of POST /assess to a decoded body (shared with the fast handler, mcrc.api.fast_assess)."""
        a = mcrc.assess(mcrc.parse_patient(patient), kb=store.knowledge, show_evidence=evidence, trace=trace,
                        reviews=store.review_book())
        # Serialised once by pydantic-core: FastAPI's response_model path would validate the Assessment again
        # and encode it field by field, several times the cost of the assessment itself. Without `?trace=true`
        # the answer leaves the trace out (decision 0020): the rationale, possible rows and unknown facts
        # explain it, and the trace would triple its size.
        return Response(a.model_dump_json(exclude=None if trace else _NO_TRACE), media_type="application/json")

    # The declared route above gives the OpenAPI operation, the routing and the 405; the plain call (no query
    # string) is served by a thin ASGI handler doing the same steps with the same functions, without FastAPI's
    # per-request dependency machinery (decision 0056). Any other call reaches the declared route's own app.
    from mcrc.api.fast_assess import FastAssess

    assess_route = next(r for r in app.router.routes if isinstance(r, APIRoute) and r.endpoint is assess)
    assess_route.app = FastAssess(assess_route.app, bearer, assess_caller, assess_answer)

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

    # ---- cases (mcrc.api.cases_routes) --------------------------------------------------------
    add_case_routes(app, store, caller)
    Auth = Annotated[Caller, Depends(caller)]

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
