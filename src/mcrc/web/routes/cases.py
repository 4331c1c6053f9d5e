"""The case list and the patient form: a new case (typed, as JSON or read from pasted reports), validated as
the API would, saved, edited."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

import mcrc
from mcrc import strictjson
from mcrc.errors import InputError
from mcrc.http.problems import input_problem
from mcrc.store.api import PERMISSIONS
from mcrc.web import form as pform
from mcrc.web import paste as ppaste
from mcrc.web.errors import WebError, friendly
from mcrc.web.session import CSRF_FIELD, WebSession
from mcrc.web.site import Caller, Web, page_router, parse_case_id

log = logging.getLogger("mcrc.web")


def routes(web: Web) -> APIRouter:
    """The case list and the patient form."""
    store = web.store
    router = page_router()

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
            case = store.get_case(parse_case_id(case_id), who.name)
        patient = {k: v for k, v in case.patient.items() if k != "schema_version"}
        return form_page(request, s, who, pform.draft_to_form(patient), json_text=json.dumps(patient, indent=2),
                         case=case)

    @router.post("/cases/{case_id}/edit", include_in_schema=False)
    async def update_case(request: Request, case_id: str) -> Response:
        return await save(request, parse_case_id(case_id))

    return router
