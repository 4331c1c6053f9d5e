"""Schemathesis against the app's own OpenAPI, over ASGI, authenticated with a real store token: `--checks all`.

Every operation gets a bounded number of generated requests (derandomized, so CI runs the same ones), valid and
invalid, and a bounded stateful run follows the API's links (create a case, read it, assess it, decide...). Every
check schemathesis has runs, with the project's settings (`schemathesis.toml`) and its own check
(`tests/schemathesis_hooks.py`): no 5xx; every status, header, media type and body as documented; schema-valid
requests accepted unless refused for a rule JSON Schema cannot state; schema-invalid requests refused; 405 with
the right Allow header; deleted resources gone; auth not ignored.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

import tests.schemathesis_hooks as hooks
from mcrc.api import Settings, create_app
from mcrc.store.api import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"
MAX_EXAMPLES = 8

load_all_checks()
ALL_CHECKS = CHECKS.get_all()  # the built-in checks and the project's own (registered by importing hooks)

# The app is built at import (schemathesis reads its OpenAPI while collecting); nothing touches the store
# until the module fixture below migrates and seeds it.
_DIR = Path(tempfile.mkdtemp(prefix="mcrc-schemathesis-"))
_URL = f"sqlite:///{_DIR / 'st.db'}"
APP = create_app(Settings(database_url=_URL, max_body_bytes=200_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP,
                                        config=SchemathesisConfig.from_path(str(ROOT / "schemathesis.toml")))


@pytest.fixture(scope="module")
def token():
    with Store(_URL) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("coo", "coordinator", actor="adm")
        raw = s.create_token("coo", label="schemathesis").token
        patient = json.loads(EXAMPLE.read_text(encoding="utf-8"))
        case = s.add_case(patient, "coo")  # cases 1 and 2 exist, 1 with an assessment
        s.assess(case.id, "coo")
        s.add_case(patient, "coo")
    yield raw
    APP.state.store.close()
    shutil.rmtree(_DIR, ignore_errors=True)


def test_every_check_runs():
    names = {c.__name__ for c in ALL_CHECKS}
    assert {"positive_data_acceptance", "negative_data_rejection", "unsupported_method", "allow_header_conformance",
            "missing_required_header", "use_after_free", hooks.refusals_name_rules_json_schema_cannot_state.__name__
            } <= names


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case, token):
    case.call_and_validate(headers=_auth(case, token), checks=ALL_CHECKS)


def _auth(case, token: str) -> dict[str, str] | None:
    """The API token, unless the case is a negative one about its headers that left Authorization out on
    purpose (adding it back would send a valid request the checks then take for an invalid one)."""
    meta = case.meta
    if meta is not None and meta.is_negative_at(ParameterLocation.HEADER) and "Authorization" not in (
            case.headers or {}):
        return None
    return {"Authorization": f"Bearer {token}"}


class _Workflow(schema.as_state_machine()):  # type: ignore[misc]
    """Links between operations (POST /cases -> GET/PUT/DELETE /cases/{id} -> assess -> decisions), stepped,
    authenticated like the rest, every check on every step; the statuses seen are kept to show it did real work."""

    token = ""
    statuses: ClassVar[list[tuple[str, int]]] = []

    def get_call_kwargs(self, case):
        headers = _auth(case, self.token)
        return {"headers": headers} if headers else {}

    def validate_response(self, response, case, additional_checks=(), **kwargs):
        type(self).statuses.append((f"{case.method} {case.path}", response.status_code))
        case.validate_response(response, checks=ALL_CHECKS, **kwargs)


def test_api_workflows_conform(token):
    _Workflow.token, _Workflow.statuses = token, []
    _Workflow.run(settings=settings(max_examples=12, stateful_step_count=6, deadline=None, derandomize=True,
                                    database=None, suppress_health_check=list(HealthCheck)))
    created = [status for op, status in _Workflow.statuses if op == "POST /api/v1/cases" and status == 201]
    followed = [status for op, status in _Workflow.statuses if "{case_id}" in op and status < 300]
    assert created and followed, _Workflow.statuses  # it created cases and used them, authenticated


# ---- the project's own check, on answers it must accept and refuse ---------------------------------
def _problem(kind: str, *messages: str) -> dict:
    return {"type": f"https://mcrc.invalid/problems/{kind}", "errors": [{"message": m} for m in messages]}


@pytest.mark.parametrize(("status", "body", "path", "allowed"), [
    (422, _problem("invalid-input", "date 2099-01-01 is in the future (today is 2026-12-07)"), "/api/v1/assess", True),
    (422, _problem("invalid-input", "ended is before started"), "/api/v1/cases", True),
    (412, _problem("precondition-failed"), "/api/v1/cases/{case_id}", True),
    (422, _problem("invalid-fhir", "String should match pattern"), hooks.FHIR_PATH, True),
    (400, _problem("malformed-json", "contains a control character U+0011"), hooks.FHIR_PATH, True),
    (422, _problem("invalid-input", "'' is not an allowed value"), "/api/v1/assess", False),  # an enum could say it
    (422, _problem("invalid-input", "ended is before started", "unknown field"), "/api/v1/assess", False),
    (400, _problem("malformed-json", "contains a control character U+0011"), "/api/v1/cases", False),
    (422, _problem("invalid-fhir", "x"), "/api/v1/assess", False),
])
def test_only_rules_json_schema_cannot_state_excuse_a_refusal(status, body, path, allowed):
    assert (hooks._reason(status, body, path) is None) is allowed
