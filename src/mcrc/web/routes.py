"""The routes of the web pages. Each handler turns store and input errors into a friendly HTML page."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

import mcrc
from mcrc import strictjson
from mcrc.engine import Assessment
from mcrc.engine.reviewed import apply_reviews
from mcrc.errors import InputError, McrcError
from mcrc.http.problems import input_problem
from mcrc.render.flowchart import TRACE_PAGE_HEIGHT, decision_path_html, flowchart_svgs
from mcrc.render.outline import (
    SCOPE_TEXT,
    branch_lines,
    cite_text,
    concern_lines,
    currency_cites,
    currency_text,
    current_standard_head,
    current_standard_lines,
    emergency_leads,
    footer,
    review_marker,
    review_summary,
    timeline_text,
)
from mcrc.render.structure import SEVERITY_TITLE, answer_structure, code_words, fact_words, page_sections
from mcrc.render.summary import KIND_LABEL, SUMMARY_TITLE, safety_beside, summary_items
from mcrc.render.timeline import timeline_svg
from mcrc.store.api import PERMISSIONS, AssessmentRecord, Store
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreNotFound
from mcrc.store.models import BOARD_ROLES, DEVIATION_REASONS, ROLES, User
from mcrc.web import decide as pdecide
from mcrc.web import form as pform
from mcrc.web import paste as ppaste
from mcrc.web.pdf import html_to_pdf
from mcrc.web.session import COOKIE, CSRF_FIELD, CSRF_HEADER, MAX_AGE, Signer, WebSession

log = logging.getLogger("mcrc.web")
_TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
           409: "Changed by someone else", 422: "Cannot accept this input", 503: "Case store unavailable",
           500: "Something went wrong"}


class WebError(Exception):
    """An error shown to the user as an HTML page with this status."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None):
        self.status, self.message, self.problems = status, message, problems or []
        super().__init__(message)


class SignInFirst(Exception):
    """A page needs a signed-in user: answered with a redirect to /login that comes back to `target`."""

    def __init__(self, target: str):
        self.target = target
        super().__init__(target)


@dataclass
class Caller:
    name: str
    role: str


@contextmanager
def friendly() -> Iterator[None]:
    """Store and engine errors become WebErrors (HTML pages), never tracebacks or problem+json."""
    try:
        yield
    except StoreForbidden as exc:
        raise WebError(403, str(exc)) from None
    except StoreNotFound as exc:
        raise WebError(404, str(exc)) from None
    except StoreConflict as exc:
        raise WebError(409, str(exc)) from None
    except InputError as exc:
        raise WebError(422, exc.headline, [str(p) for p in exc.problems]) from None
    except StoreError as exc:
        log.error("store error: %s", exc)
        raise WebError(503, "The case store cannot answer now; try again in a moment.") from None
    except McrcError as exc:
        log.error("mcrc error: %s", exc)
        raise WebError(500, "No assessment could be produced; nothing was stored.") from None


def _case_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 12:
        raise WebError(404, f"There is no case {raw!r}.")
    return int(raw)


def _local_next(value: str | None) -> str:
    """Only same-site paths after sign-in (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


class Web:
    def __init__(self, app: FastAPI, store: Store, settings: Any):
        self.app, self.store = app, store
        self.signer = Signer(getattr(settings, "secret_key", None))
        self.env = Environment(loader=PackageLoader("mcrc.web", "templates"),
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(cite_text=cite_text, SCOPE_TEXT=SCOPE_TEXT, timeline_text=timeline_text,
                                branch_lines=branch_lines, KIND_LABEL=KIND_LABEL, SUMMARY_TITLE=SUMMARY_TITLE,
                                safety_beside=safety_beside,
                                current_standard_head=current_standard_head, emergency_leads=emergency_leads,
                                current_standard_lines=current_standard_lines, currency_text=currency_text,
                                currency_cites=currency_cites,
                                review_marker=review_marker, concern_lines=concern_lines, review_summary=review_summary,
                                DEVIATION_REASONS=DEVIATION_REASONS, INDEX=pform.INDEX, LIST_STATE=pform.LIST_STATE,
                                concrete=pform.concrete, organ_hidden=pform.organ_hidden,
                                with_index=lambda index, path, i: {**index, path: str(i)},
                                code_label=lambda code: pdecide.code_label(store.knowledge.vocabulary, code),
                                ROLES=ROLES, ROLE_LABELS=pdecide.ROLE_LABELS, BOARD_ROLES=BOARD_ROLES,
                                PARTICIPANT_LABELS=pdecide.PARTICIPANT_LABELS, WHO_CAN=pdecide.who_can_what())
        # the answer's reading structure (regimen groups and folds, warnings by severity, missing information;
        # decision record 0038), from the render layer like the rest
        self.env.globals.update(structure=lambda a: answer_structure(a, self.store.knowledge),
                                code_words=lambda code: code_words(self.store.knowledge, code),
                                page_sections=lambda a, provisional, strict_view: page_sections(
                                    a, self.store.knowledge, provisional, strict_view),
                                fact_words=fact_words, SEVERITY_TITLE=SEVERITY_TITLE)

    # ---- sessions ------------------------------------------------------------------------------
    def session(self, request: Request) -> tuple[WebSession, bool]:
        """The request's session, or a fresh anonymous one (True: the cookie must be set)."""
        s = self.signer.load(request.cookies.get(COOKIE))
        return (s, False) if s is not None else (self.signer.new(), True)

    def caller(self, s: WebSession) -> Caller | None:
        """The signed-in user, re-read from the store on every request: a removed or deactivated user is signed
        out, and so is a session issued before the user last signed out (in any browser)."""
        if s.user is None:
            return None
        try:
            with Session(self.store.engine) as db:
                user = db.execute(select(User).where(User.name == s.user)).scalar_one_or_none()
        except SQLAlchemyError:
            raise WebError(503, "The case store cannot answer now; try again in a moment.") from None
        if user is None or user.deactivated_at is not None:
            return None
        ended = user.sessions_ended_at
        if ended is not None and s.issued <= (ended if ended.tzinfo else ended.replace(tzinfo=dt.UTC)).timestamp():
            return None
        return Caller(user.name, user.role)

    def set_cookie(self, response: Response, request: Request, s: WebSession) -> None:
        response.set_cookie(COOKIE, self.signer.dump(s), httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https", max_age=MAX_AGE)

    def check_csrf(self, request: Request, s: WebSession, form: FormData | None) -> None:
        token = request.headers.get(CSRF_HEADER) or (form.get(CSRF_FIELD) if form is not None else None)
        if not self.signer.csrf_ok(s, token if isinstance(token, str) else None):
            raise WebError(403, "This form has expired or did not come from this site (missing or wrong CSRF "
                                "token). Reload the page and submit it again.")

    # ---- rendering -----------------------------------------------------------------------------
    def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        s, fresh = ctx.pop("_session", None) or self.session(request)
        who = ctx.pop("_caller", None)
        if who is None and s.user is not None:
            who = self.caller(s)
        html = self.env.get_template(template).render(csrf=self.signer.csrf(s), user=who, **ctx)
        resp = HTMLResponse(html, status_code=status)
        if fresh:
            self.set_cookie(resp, request, s)
        return resp

    def error_page(self, request: Request, exc: WebError) -> HTMLResponse:
        s, fresh = self.session(request)
        try:
            who = self.caller(s)
        except WebError:
            who = None
        return self.page(request, "error.html", status=exc.status, title=_TITLES.get(exc.status, "Error"),
                         message=exc.message, problems=exc.problems, status_code=exc.status,
                         _session=(s, fresh), _caller=who)

    def require(self, request: Request) -> tuple[WebSession, Caller]:
        """The session and its signed-in user; SignInFirst (a redirect to /login) when nobody is signed in."""
        s, _ = self.session(request)
        who = self.caller(s)
        if who is None:
            raise SignInFirst(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return s, who

    # ---- assessments ---------------------------------------------------------------------------
    def current_assessment(self, case_id: int, who: Caller) -> tuple[Any, AssessmentRecord | None, bool]:
        """The case, its assessment of the current version (made now if the role may assess), and
        whether the record shown is stale (an older version's, when this user may not assess)."""
        case = self.store.get_case(case_id, who.name)
        history = self.store.assessments(case_id, who.name)
        latest = history[-1] if history else None
        if latest is None or latest.case_version != case.version:
            if who.role in PERMISSIONS["assess_case"]:
                latest = self.store.assess(case_id, who.name)
            else:
                return case, latest, latest is not None
        return case, latest, False

    def assessment_context(self, a: Assessment, pdf: bool = False, strict: bool = False) -> dict[str, Any]:
        """What the answer templates need. A stored answer shows its rows' review status as it stands now (a row
        marked after the assessment shows at once), when it was made with the knowledge base in use. `a` in the
        templates is the answer shown: the provisional one where presumptions were used (its assumptions above
        it), unless `strict`; `full` is the stored (strict) answer, whose trace the flowchart draws; `board` the
        board summary's items of the answer shown (the renderers' `summary_items`, decision record 0037)."""
        kb = self.store.knowledge
        book = self.store.review_book(fresh=True)
        now = apply_reviews(a, book)
        shown = now if strict or now.provisional is None else apply_reviews(now.provisional.answer, book)
        return {
            "a": shown,
            "full": now,
            "board": summary_items(shown, kb, None if strict else now.provisional),
            "provisional": now.provisional,
            "strict_view": strict and now.provisional is not None,
            "reviews_now": now is not a,
            "sources": kb.sources,
            "path": decision_path_html(a, kb, pdf=pdf),
            "flowchart": flowchart_svgs(a, kb, id_prefix="flow" + ("-pdf" if pdf else ""), compact=pdf,
                                        max_height=TRACE_PAGE_HEIGHT if pdf else None),
            "timelines": [timeline_svg(s, n) for n, s in enumerate(shown.strategies, start=1)],
            "footer": footer(now),
            "pdf": pdf,
        }


class _PageRoute(APIRoute):
    """A page route: an unexpected exception becomes the friendly 500 page (logged here), not problem+json."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (WebError, SignInFirst, HTTPException, RequestValidationError):
                raise
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                raise WebError(500, "Something went wrong on our side; nothing was changed by this request "
                                    "unless the page says so. The error is in the server log.") from None

        return page_handler


def install(app: FastAPI, store: Store, settings: Any) -> None:
    """Mount the web pages and /static/ on `app` (the API's app: same store, same tokens)."""
    web = Web(app, store, settings)
    app.state.web = web
    router = APIRouter(route_class=_PageRoute, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(files("mcrc.web").joinpath("static"))), name="static")

    @app.exception_handler(WebError)
    async def _web_error(request: Request, exc: WebError) -> HTMLResponse:
        return web.error_page(request, exc)

    @app.exception_handler(SignInFirst)
    async def _sign_in_first(request: Request, exc: SignInFirst) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.target, safe='/')}", status_code=303)

    def authenticate(token: str):
        auth = getattr(app.state, "authenticate", None)
        return None if auth is None else auth(token)

    # ---- sign in / out -------------------------------------------------------------------------
    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return web.page(request, "login.html", next=_local_next(next), failed=False)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        s, _ = web.session(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        token = str(form.get("token") or "").strip()
        target = _local_next(str(form.get("next") or "/"))
        who = authenticate(token) if token else None
        if who is None:
            log.info("web sign-in refused (token not recognised)")
            return web.page(request, "login.html", status=401, next=target, failed=True, _session=(s, False))
        fresh = web.signer.new(user=who.name)  # a new nonce: tokens of the anonymous session stop working
        resp = RedirectResponse(target, status_code=303)
        web.set_cookie(resp, request, fresh)
        log.info("web sign-in: %s", who.name)
        return resp

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        s, _ = web.session(request)
        web.check_csrf(request, s, await request.form())
        who = web.caller(s)
        if who is not None:  # ends this cookie and its copies everywhere, not only in this browser
            with friendly():
                store.end_sessions(who.name)
            log.info("web sign-out: %s", who.name)
        resp = RedirectResponse("/login", status_code=303)
        web.set_cookie(resp, request, web.signer.new())
        return resp

    # ---- cases ---------------------------------------------------------------------------------
    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def case_list(request: Request) -> Response:
        s, who = web.require(request)
        with friendly():
            cases = store.list_cases(who.name)
        return web.page(request, "cases.html", cases=cases, _session=(s, False), _caller=who,
                        may_create=who.role in PERMISSIONS["create_case"])

    def form_page(request: Request, s: WebSession, who: Caller, values: dict[str, str], status: int = 200,
                  problems: list[dict[str, Any]] | None = None, json_text: str = "", json_mode: bool = False,
                  case: Any = None, version: int | None = None, extraction: ppaste.View | None = None,
                  pasted: ppaste.Pasted | None = None):
        placed, rest = pform.place_problems(problems or [], pform.form_paths(values))
        if pasted is None:
            pasted = ppaste.Pasted([], [])
        slots = pasted.slots + [ppaste.Slot() for _ in range(max(2 - len(pasted.slots), 1))]
        return web.page(request, "case_form.html", status=status, spec=pform.SPEC, values=values,
                        counts=pform.row_counts(values), placed=placed, rest=rest, json_text=json_text,
                        json_mode=json_mode, case=case, version=version if version is not None else (
                            case.version if case is not None else None), x=extraction, pasted=pasted, slots=slots,
                        REPORT_TYPES=ppaste.TYPES, MAX_REPORT_CHARS=ppaste.MAX_CHARS, _session=(s, False),
                        _caller=who)

    @router.get("/cases/new", response_class=HTMLResponse, include_in_schema=False)
    def new_case(request: Request) -> Response:
        s, who = web.require(request)
        return form_page(request, s, who, {})

    def draft_purpose(who: Caller) -> str:
        return f"extraction-draft\x00{who.name}"

    @router.post("/cases/new/extract", include_in_schema=False)
    async def extract_reports(request: Request) -> Response:
        """Read the pasted reports into a draft that fills the new-case form (issue 22 item 2, decision record
        0046). Nothing is stored: the draft rides with the form, signed for this user, until the clinician submits
        it. Bad input (no report, an empty, binary or oversized text, a duplicate name) is said on the panel, 422."""
        s, who = web.require(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        pasted = ppaste.read_form(form)
        docs = ppaste.documents(pasted) if pasted.ok else []
        if not pasted.ok:
            return form_page(request, s, who, {}, 422, pasted=pasted)
        from mcrc import extract as extraction

        draft = (await run_in_threadpool(extraction.extract, docs)).as_dict()
        carried = ppaste.carried(draft)
        view = ppaste.view(carried, web.signer.seal(draft_purpose(who), ppaste.as_text(carried)), draft["unmapped"])
        values = pform.draft_to_form(draft["patient"])
        log.info("web extraction: %s read %d report(s), %d field(s) filled, %d conflict(s)", who.name, len(docs),
                 len(draft["provenance"]), len(draft["conflicts"]))
        return form_page(request, s, who, values, json_text=json.dumps(draft["patient"], indent=2),
                         extraction=view, pasted=pasted)

    def carried_draft(form: FormData, who: Caller) -> ppaste.View | None:
        """The draft the form was filled from, if any, checked against its signature (WebError 422 if altered)."""
        text = form.get(ppaste.DRAFT_FIELD)
        if not isinstance(text, str) or not text:
            return None
        mac = form.get(ppaste.DRAFT_MAC_FIELD)
        sealed = web.signer.sealed(draft_purpose(who), text, mac if isinstance(mac, str) else None)
        data = ppaste.parse_carried(text) if sealed else None
        if data is None:
            raise WebError(422, "The draft read from the reports cannot be verified (the page was altered, or it "
                                "was filled for another user or before the server restarted); nothing was stored. "
                                "Open a new case and paste the reports again.")
        return ppaste.view(data, str(mac))

    def draft_of(form: FormData) -> Any:
        """The patient the submitted form describes: the JSON text in JSON mode, else the fields."""
        if form.get("mode") == "json":
            return strictjson.loads(str(form.get("patient_json") or ""))  # as the API reads a body
        return pform.form_to_draft({k: v for k, v in form.items() if isinstance(v, str)})

    def problems_of(exc: InputError) -> list[dict[str, Any]]:
        return json.loads(input_problem(exc).body)["errors"]

    @router.post("/cases/validate", include_in_schema=False)
    async def validate(request: Request) -> Response:
        """Validate a draft exactly as the API would; answers the API's problem body (or null) and the draft."""
        s, _ = web.session(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        if web.caller(s) is None:
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        draft: Any = None
        try:
            draft = draft_of(form)
            mcrc.parse_patient(draft)
        except InputError as exc:
            problem = json.loads(input_problem(exc).body)
            # the API's problem as it is, and each of its problems in the form's words (decision record 0040)
            return JSONResponse({"problem": problem, "draft": draft,
                                 "messages": pform.messages(problem.get("errors") or [])})
        return JSONResponse({"problem": None, "draft": draft, "messages": []})

    async def save(request: Request, case_id: int | None) -> Response:
        """Create a case (case_id None) or replace the patient of one at the version the form was opened at."""
        s, who = web.require(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        values = {k: v for k, v in form.items()
                  if isinstance(v, str) and k not in (CSRF_FIELD, "patient_json", "mode", "_version",
                                                      ppaste.DRAFT_FIELD, ppaste.DRAFT_MAC_FIELD)}
        x = carried_draft(form, who)
        json_mode = form.get("mode") == "json"
        json_text = str(form.get("patient_json") or "")
        case = None
        version: int | None = None
        if case_id is not None:
            raw = str(form.get("_version") or "")
            if not raw.isdigit():
                raise WebError(422, "The form does not say which version of the case it edits; open it again.")
            version = int(raw)
            with friendly():
                case = store.get_case(case_id, who.name)
        again = dict(json_text=json_text, json_mode=json_mode, case=case, version=version, extraction=x)
        extracted = x.carried if x is not None else None
        try:
            draft = draft_of(form)
            with friendly():
                try:
                    if case_id is None:
                        rec = store.add_case(draft, who.name, extraction=extracted)
                    else:
                        rec = store.update_case(case_id, draft, expected_version=version, user=who.name,
                                                extraction=extracted)
                except InputError as exc:
                    if json_mode and isinstance(draft, dict):
                        values = pform.draft_to_form(draft)
                    return form_page(request, s, who, values, 422, problems_of(exc), **again)
        except InputError as exc:  # malformed JSON text
            return form_page(request, s, who, values, 422, problems_of(exc), **again)
        return RedirectResponse(f"/cases/{rec.id}", status_code=303)

    @router.post("/cases", include_in_schema=False)
    async def create_case(request: Request) -> Response:
        return await save(request, None)

    @router.get("/cases/{case_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def edit_case(request: Request, case_id: str) -> Response:
        s, who = web.require(request)
        with friendly():
            case = store.get_case(_case_id(case_id), who.name)
        patient = {k: v for k, v in case.patient.items() if k != "schema_version"}
        return form_page(request, s, who, pform.draft_to_form(patient), json_text=json.dumps(patient, indent=2),
                         case=case)

    @router.post("/cases/{case_id}/edit", include_in_schema=False)
    async def update_case(request: Request, case_id: str) -> Response:
        return await save(request, _case_id(case_id))

    def case_page(request: Request, s: WebSession, who: Caller, case_id: int, status: int = 200,
                  decision_problems: list[str] | None = None, decision_values: dict[str, Any] | None = None):
        with friendly():
            case, record, stale = web.current_assessment(case_id, who)
            decisions = store.decisions(case_id, who.name)
        ctx: dict[str, Any] = {}
        if record is not None:
            ctx = web.assessment_context(Assessment.model_validate(record.assessment),
                                         strict=request.query_params.get("strict") in ("1", "true", "yes"))
            ctx["offer"] = pdecide.choices([ctx["a"]], store.knowledge.vocabulary)
        return web.page(request, "assessment.html", status=status, case=case, record=record, stale=stale,
                        decisions=decisions, may_decide=who.role in PERMISSIONS["decide"],
                        may_edit=who.role in PERMISSIONS["update_case"],
                        decision_problems=decision_problems or [], dv=decision_values or {},
                        _session=(s, False), _caller=who, **ctx)

    @router.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def show_case(request: Request, case_id: str) -> Response:
        s, who = web.require(request)
        return case_page(request, s, who, _case_id(case_id))

    @router.post("/cases/{case_id}/decisions", include_in_schema=False)
    async def decide(request: Request, case_id: str) -> Response:
        """Record the board's decision from the form (decision record 0040): the choices are checked against the
        answer the form was built from, in the form's words, before the store checks them with its own rules; a
        role that may not record decisions gets the 403 page; nothing is stored unless every check passes."""
        s, who = web.require(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        cid = _case_id(case_id)
        if who.role not in PERMISSIONS["decide"]:
            raise WebError(403, f"{who.name} ({who.role}) is not allowed to decide: only a coordinator records the "
                                "board's decision; your role reads it.")
        d = pdecide.DecisionInput.from_form(form)
        with friendly():
            _, record, stale = web.current_assessment(cid, who)
        if record is None or stale:
            raise WebError(409, "This case has no assessment of its current version; open it to assess it, then "
                                "record the decision.")
        full = Assessment.model_validate(record.assessment)
        answers = [full] + ([full.provisional.answer] if full.provisional is not None else [])
        checked = pdecide.check(d, pdecide.choices(answers, store.knowledge.vocabulary), store.knowledge.vocabulary)
        if checked.problems:
            return case_page(request, s, who, cid, 422, checked.problems, d.values())
        try:
            with friendly():
                store.decide(cid, strategies=checked.codes, rationale=d.rationale,
                             concordant=d.concordant == "yes", user=who.name, deviation=d.deviation or None,
                             deviation_text=d.deviation_text.strip() or None, participants=checked.participants,
                             meeting_date=checked.meeting)
        except WebError as exc:
            if exc.status != 422:
                raise
            return case_page(request, s, who, cid, 422, exc.problems, d.values())
        return RedirectResponse(f"/cases/{cid}#decisions", status_code=303)

    @router.get("/cases/{case_id}/pdf", include_in_schema=False)
    def case_pdf(request: Request, case_id: str) -> Response:
        _, who = web.require(request)
        cid = _case_id(case_id)
        with friendly():
            case, record, stale = web.current_assessment(cid, who)
            decisions = store.decisions(cid, who.name)
        if record is None:
            raise WebError(409, "This case has not been assessed yet; a clinician or coordinator opens it first.")
        a = Assessment.model_validate(record.assessment)
        html = web.env.get_template("pdf.html").render(case=case, record=record, stale=stale, decisions=decisions,
                                                       user=who, generated=dt.datetime.now(dt.UTC),
                                                       **web.assessment_context(a, pdf=True))
        pdf = html_to_pdf(html)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="case-{cid}-assessment.pdf"'})

    # ---- knowledge base ------------------------------------------------------------------------
    @router.get("/kb", response_class=HTMLResponse, include_in_schema=False)
    def kb_page(request: Request) -> HTMLResponse:
        kb = store.knowledge
        s, _ = web.session(request)
        who = web.caller(s)
        return web.page(request, "kb.html", kb=kb, book=store.review_book(fresh=True), _caller=who,
                        may_review=who is not None and who.role in PERMISSIONS["review_row"],
                        trace_sources=_trace_sources(kb))

    @router.post("/kb/reviews", include_in_schema=False)
    async def review_row(request: Request) -> Response:
        """A clinician marks a row reviewed or raises a concern (the form of `_review.html`); back to the page the
        form was on. Other roles get the 403 page; a bad mark the 422 page; nothing is written either way."""
        s, _ = web.session(request)
        form = await request.form()
        who = web.caller(s)
        if who is None:
            raise SignInFirst("/kb")
        web.check_csrf(request, s, form)
        row = str(form.get("row") or "")
        comment = str(form.get("comment") or "")
        with friendly():
            store.mark_row(row, str(form.get("status") or ""), who.name, comment if comment.strip() else None)
        log.info("row review: %s marked %s", who.name, row)
        return RedirectResponse(_local_next(str(form.get("next") or f"/kb#row-{row}")), status_code=303)

    def _trace_sources(kb) -> list[str]:
        try:
            return list(kb.trace.sources)
        except McrcError:  # a malformed matrix file: no links here; its own page says what is wrong
            return []

    @router.get("/kb/trace/{source}", response_class=HTMLResponse, include_in_schema=False)
    def kb_trace_page(request: Request, source: str) -> HTMLResponse:
        from mcrc.render.trace import source_view

        kb = store.knowledge
        try:
            kb.trace  # noqa: B018 - read (and check) the matrix
        except McrcError as exc:
            raise WebError(500, "The traceability matrix cannot be read; `mcrc verify` names the file and line.",
                           [str(p) for p in getattr(exc, "problems", [])]) from None
        if source not in kb.trace.sources:
            raise WebError(404, f"There is no traceability matrix for the source {source!r}. Sources with one: "
                                f"{', '.join(kb.trace.sources) or 'none'}.")
        s, _ = web.session(request)
        who = web.caller(s)  # a signed-in clinician reviews the rows beside the statements they encode
        return web.page(request, "kb_trace.html", kb=kb, view=source_view(kb, source),
                        book=store.review_book(fresh=True), _caller=who,
                        may_review=who is not None and who.role in PERMISSIONS["review_row"])

    app.include_router(router)
