"""CDS Hooks 2.0 service: discovery, the `patient-view` service and its feedback endpoint.

`cds_router(auth_settings, cache, base_url=None, page_url="/cases")` gives an APIRouter with

* `GET /cds-services`: discovery (no authentication), one service `mcrc-patient-view`;
* `POST /cds-services/mcrc-patient-view`: the hook call, authenticated by `cds_auth_dependency`
  (bare 401 otherwise). The FHIR data come from `prefetch.bundle` (an mCODE-style Bundle); without it
  the service answers 412 (no FHIR-server fallback in this slice). A malformed Bundle gives 400 with a
  short message, never a 5xx. The answer is `{"cards": [...]}`: a recommendation card (goal and first
  strategy, with the strategies and citations in `detail`), one info card for missing tests and one
  warning card for the assessment's warnings;
* `POST /cds-services/mcrc-patient-view/feedback`: accepts the spec's feedback body, answers 200.

Errors are raised as `HTTPException(status, detail=<short text>)`, so an app that installs the
problem+json handlers of `mcrc.api.errors` renders them as problems. No token is ever logged.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request

import mcrc
from mcrc.api.cds_auth import CdsAuthSettings, Claims, ReplayCache, cds_auth_dependency
from mcrc.errors import InputError
from mcrc.fhir.read import read_bundle

log = logging.getLogger("mcrc.api.cdshooks")

SERVICE_ID = "mcrc-patient-view"
SUMMARY_MAX = 139  # the spec: summary "<140 characters"
_MAX_ITEMS_IN_CARD = 8
_FEEDBACK_OUTCOMES = {"accepted", "overridden"}

SERVICE = {
    "hook": "patient-view",
    "id": SERVICE_ID,
    "title": "mcrc: metastatic colorectal cancer treatment strategy",
    "description": (
        "Reads the patient's mCODE-style record (cancer conditions, stage, tumour markers, genomic variants,"
        " ECOG, procedures, medications) and returns the guideline-cited treatment goal and strategies,"
        " missing tests and warnings."
    ),
    "prefetch": {"bundle": "Patient/{{context.patientId}}/$everything"},
    "usageRequirements": "Sign requests with a key of an issuer configured in mcrc (CDS Hooks 2.0 JWT).",
}


def _shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cite(citations: list[Any]) -> str:
    parts = []
    for c in citations:
        s = f"{c.source}, {c.where}"
        if c.footnote:
            s += f" (footnote {c.footnote})"
        parts.append(s)
    return "; ".join(parts)


def _bullet(label: str, citations: list[Any]) -> str:
    cite = _cite(citations)
    return f"- {label}" + (f" — *{cite}*" if cite else "")


def _sources(*groups: list[Any]) -> list[str]:
    seen: list[str] = []
    for citations in groups:
        for c in citations:
            if c.source not in seen:
                seen.append(c.source)
    return seen


def _source(sources: list[str], page_url: str) -> dict[str, Any]:
    label = "mcrc: " + (", ".join(sources) if sources else "guidelines")
    return {"label": _shorten(label, 200), "url": page_url}


def _strategy_text(s: Any) -> str:
    steps = " → ".join(st.label for st in s.steps)
    return s.label or steps or s.id


def _card(summary: str, indicator: str, detail: str, sources: list[str], page_url: str) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _shorten(summary),
        "indicator": indicator,
        "detail": detail,
        "source": _source(sources, page_url),
        "links": [{"label": "Full mcrc assessment", "url": page_url, "type": "absolute"}],
    }


def _is_emergency(a: Any) -> bool:
    if any(i.code.startswith("emergency") for i in a.first_steps):
        return True
    return bool(a.strategies and a.strategies[0].steps and a.strategies[0].steps[0].action_class == "emergency")


def build_cards(a: Any, page_url: str, read_warnings: list[str] | None = None) -> list[dict[str, Any]]:
    """The CDS Hooks cards for one Assessment."""
    cards: list[dict[str, Any]] = []
    goal_cits = a.goal.citations if a.goal else []
    first = a.strategies[0] if a.strategies else None

    if first is not None:
        summary = f"{a.goal.label}: {_strategy_text(first)}" if a.goal else _strategy_text(first)
    elif a.goal is not None:
        summary = a.goal.label
    elif a.referrals:
        summary = a.referrals[0].label
    else:
        summary = f"mcrc: {a.scope.reason or 'no recommendation'}"
    lines: list[str] = []
    if a.goal:
        lines += ["**Goal**", "", _bullet(a.goal.label, a.goal.citations), ""]
    if a.first_steps:
        lines += ["**First steps**", ""] + [_bullet(i.label, i.citations) for i in a.first_steps] + [""]
    if a.strategies:
        lines += ["**Strategies, in order**", ""]
        for n, s in enumerate(a.strategies, 1):
            steps = " → ".join(st.label for st in s.steps)
            head = f"{n}. {s.label + ': ' if s.label else ''}{steps}"
            cite = _cite(s.citations)
            lines.append(head + (f" — *{cite}*" if cite else ""))
        lines.append("")
    if a.regimens:
        lines += ["**Regimen options**", ""]
        lines += [_bullet(r.label, r.citations) for r in a.regimens[:_MAX_ITEMS_IN_CARD]] + [""]
    if a.referrals:
        lines += ["**Referrals**", ""] + [_bullet(i.label, i.citations) for i in a.referrals] + [""]
    if not a.goal and not a.strategies and a.possible:
        lines += ["**Possible once more facts are known**", ""]
        for p in a.possible[:_MAX_ITEMS_IN_CARD]:
            lines.append(_bullet(f"{p.title} (needs: {', '.join(p.needs)})", p.citations))
        lines.append("")
    if a.scope.status != "in_scope" and a.scope.reason:
        lines += [f"*Scope: {a.scope.status} — {a.scope.reason}*", ""]
    indicator = "critical" if _is_emergency(a) else ("warning" if a.warnings else "info")
    strat_cits = [c for s in a.strategies for c in s.citations]
    first_cits = [c for i in a.first_steps for c in i.citations]
    ref_cits = [c for i in a.referrals for c in i.citations]
    cards.append(_card(summary, indicator, "\n".join(lines).strip(),
                       _sources(goal_cits, first_cits, strat_cits, ref_cits), page_url))

    if a.tests:
        detail = "\n".join(_bullet(t.label, t.citations) for t in a.tests)
        n = len(a.tests)
        cards.append(_card(f"{n} test{'s' if n > 1 else ''} missing: {', '.join(t.label for t in a.tests)}",
                           "info", detail, _sources(*(t.citations for t in a.tests)), page_url))
    if a.warnings or read_warnings:
        detail_lines = [_bullet(w.label, w.citations) for w in a.warnings]
        detail_lines += [f"- FHIR record: {w}" for w in (read_warnings or [])]
        labels = [w.label for w in a.warnings] + list(read_warnings or [])
        cards.append(_card(f"Warning: {labels[0]}" if len(labels) == 1 else f"{len(labels)} warnings: {labels[0]}",
                           "warning", "\n".join(detail_lines), _sources(*(w.citations for w in a.warnings)),
                           page_url))
    return cards


def _bad(msg: str) -> HTTPException:
    return HTTPException(status_code=400, detail=msg)


def cds_router(
    auth_settings: CdsAuthSettings,
    cache: ReplayCache,
    base_url: str | None = None,
    page_url: str = "/cases",
) -> APIRouter:
    """The CDS Hooks routes (discovery, `mcrc-patient-view`, its feedback), authenticated as CDS Hooks 2.0 asks."""
    router = APIRouter(tags=["cds-hooks"])
    auth = cds_auth_dependency(auth_settings, cache, base_url=base_url)

    async def _json_object(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except Exception:
            raise _bad("request body is not JSON") from None
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        return body

    @router.get("/cds-services")
    def discovery() -> dict[str, Any]:
        return {"services": [SERVICE]}

    @router.post(f"/cds-services/{SERVICE_ID}")
    async def patient_view(request: Request, claims: Claims = Depends(auth)) -> dict[str, Any]:
        body = await _json_object(request)
        if body.get("hook") != "patient-view":
            raise _bad("hook must be 'patient-view'")
        if not isinstance(body.get("hookInstance"), str) or not body["hookInstance"]:
            raise _bad("hookInstance is required")
        context = body.get("context")
        if not isinstance(context, dict) or not isinstance(context.get("patientId"), str) \
                or not context["patientId"]:
            raise _bad("context.patientId is required")
        patient_id = context["patientId"]
        prefetch = body.get("prefetch")
        if prefetch is not None and not isinstance(prefetch, dict):
            raise _bad("prefetch must be an object")
        bundle = (prefetch or {}).get("bundle")
        if bundle is None:
            # No FHIR-server fallback in this slice: the spec's answer when the data cannot be obtained.
            raise HTTPException(status_code=412, detail="prefetch 'bundle' is required")
        try:
            result = read_bundle(bundle)
        except InputError as e:
            first = e.problems[0] if e.problems else None
            raise _bad(f"prefetch.bundle is not a valid FHIR R4B Bundle: {first}"[:300]) from None
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            log.warning("prefetch bundle rejected: %s", type(e).__name__)
            raise _bad("prefetch.bundle could not be read") from None
        if result.patient.id and result.patient.id != patient_id:
            raise _bad("prefetch.bundle is for another patient than context.patientId")
        try:
            assessment = mcrc.assess(result.patient)
        except InputError as e:
            first = e.problems[0] if e.problems else None
            raise _bad(f"patient data not assessable: {first}"[:300]) from None
        log.info("patient-view hookInstance=%s iss=%s", str(body["hookInstance"])[:80], claims.get("iss"))
        return {"cards": build_cards(assessment, page_url, result.warnings)}

    @router.post(f"/cds-services/{SERVICE_ID}/feedback")
    async def feedback(request: Request, claims: Claims = Depends(auth)) -> dict[str, Any]:
        body = await _json_object(request)
        items = body.get("feedback")
        if not isinstance(items, list) or not items:
            raise _bad("feedback must be a non-empty list")
        for f in items:
            if not isinstance(f, dict) or not isinstance(f.get("card"), str) \
                    or f.get("outcome") not in _FEEDBACK_OUTCOMES or not isinstance(f.get("outcomeTimestamp"), str):
                raise _bad("each feedback needs card, outcome (accepted|overridden) and outcomeTimestamp")
            log.info("feedback card=%s outcome=%s", f["card"][:80], f["outcome"])
        return {}

    return router
