"""The web pages' shared state: templates, sessions and the signed-in caller, page rendering, the answer shown."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from mcrc.engine import Assessment
from mcrc.engine.reviewed import apply_reviews
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
from mcrc.store.models import BOARD_ROLES, DEVIATION_REASONS, ROLES, User
from mcrc.web import decide as pdecide
from mcrc.web import form as pform
from mcrc.web.errors import TITLES, SignInFirst, WebError
from mcrc.web.session import COOKIE, CSRF_FIELD, CSRF_HEADER, MAX_AGE, Signer, WebSession

log = logging.getLogger("mcrc.web")


@dataclass
class Caller:
    """The signed-in user of a request, as the store knows them now."""

    name: str
    role: str


def parse_case_id(raw: str) -> int:
    """A case number from the address; anything else is the 404 page."""
    if not raw.isdigit() or len(raw) > 12:
        raise WebError(404, f"There is no case {raw!r}.")
    return int(raw)


def local_next(value: str | None) -> str:
    """Only same-site paths after sign-in (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


class Web:
    """What every page shares: the store, the templates with their helpers, the session signer."""

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
        return self.page(request, "error.html", status=exc.status, title=TITLES.get(exc.status, "Error"),
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


class PageRoute(APIRoute):
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


def page_router() -> APIRouter:
    """A router for pages: its routes answer errors with HTML pages (PageRoute), and stay out of the API schema."""
    return APIRouter(route_class=PageRoute, include_in_schema=False)
