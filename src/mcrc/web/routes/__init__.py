"""The routes of the web pages, one router per part of the site. Each handler turns store and input errors into a
friendly HTML page."""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from mcrc.store.api import Store
from mcrc.web.errors import SignInFirst, WebError
from mcrc.web.routes import assessment, cases, knowledge, sign_in
from mcrc.web.site import Web


def install(app: FastAPI, store: Store, settings: Any) -> None:
    """Mount the web pages and /static/ on `app` (the API's app: same store, same tokens)."""
    web = Web(app, store, settings)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=str(files("mcrc.web").joinpath("static"))), name="static")

    @app.exception_handler(WebError)
    async def _web_error(request: Request, exc: WebError) -> HTMLResponse:
        return web.error_page(request, exc)

    @app.exception_handler(SignInFirst)
    async def _sign_in_first(request: Request, exc: SignInFirst) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.target, safe='/')}", status_code=303)

    # in this order: /cases/new before /cases/{case_id}
    for part in (sign_in, cases, assessment, knowledge):
        app.include_router(part.routes(web))
