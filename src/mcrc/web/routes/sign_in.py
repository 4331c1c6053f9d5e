"""Sign in with an API token, and sign out (here and in every other browser)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mcrc.web.errors import friendly
from mcrc.web.site import Web, local_next, page_router

log = logging.getLogger("mcrc.web")


def routes(web: Web) -> APIRouter:
    """The sign-in form, signing in and signing out."""
    store = web.store
    app = web.app

    def authenticate(token: str):
        auth = getattr(app.state, "authenticate", None)
        return None if auth is None else auth(token)

    router = page_router()

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> HTMLResponse:
        return web.page(request, "login.html", next=local_next(next), failed=False)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        s, _ = web.session(request)
        form = await request.form()
        web.check_csrf(request, s, form)
        token = str(form.get("token") or "").strip()
        target = local_next(str(form.get("next") or "/"))
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

    return router
