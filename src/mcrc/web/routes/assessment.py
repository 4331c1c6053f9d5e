"""A case's page: its assessment (the board summary first), the board's decision recorded, the PDF."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mcrc.engine import Assessment
from mcrc.store.api import PERMISSIONS
from mcrc.web import decide as pdecide
from mcrc.web.errors import WebError, friendly
from mcrc.web.pdf import html_to_pdf
from mcrc.web.session import WebSession
from mcrc.web.site import Caller, Web, page_router, parse_case_id


def routes(web: Web) -> APIRouter:
    """The case page, the decision form's target and the PDF."""
    store = web.store
    router = page_router()

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
        return case_page(request, s, who, parse_case_id(case_id))

    @router.post("/cases/{case_id}/decisions", include_in_schema=False)
    async def decide(request: Request, case_id: str) -> Response:
        """Record the board's decision from the form (decision record 0040): the choices are checked against the
        answer the form was built from, in the form's words, before the store checks them with its own rules; a
        role that may not record decisions gets the 403 page; nothing is stored unless every check passes."""
        s, who = web.require(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        cid = parse_case_id(case_id)
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
        cid = parse_case_id(case_id)
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

    return router
