"""The knowledge base pages: every table and row with its review status, rows marked reviewed, the
traceability matrix of a source."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mcrc.errors import McrcError
from mcrc.store.api import PERMISSIONS
from mcrc.web.errors import SignInFirst, WebError, friendly
from mcrc.web.site import Web, local_next, page_router

log = logging.getLogger("mcrc.web")


def routes(web: Web) -> APIRouter:
    """The knowledge base page, row reviews and the traceability pages."""
    store = web.store
    router = page_router()

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
        return RedirectResponse(local_next(str(form.get("next") or f"/kb#row-{row}")), status_code=303)

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

    return router
