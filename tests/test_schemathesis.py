"""Schemathesis against the app's own OpenAPI, over ASGI, authenticated with a real store token.

Every operation gets a bounded number of generated requests (derandomized, so CI runs the same ones);
each response must not be a 5xx, must have a documented status code and content type, and its body
must match the documented schema.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mcrc.api import Settings, create_app
from mcrc.store.api import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "01-sync-low-rectal-resectable.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = 8


# The app is built at import (schemathesis reads its OpenAPI while collecting); nothing touches the store
# until the module fixture below migrates and seeds it.
_DIR = Path(tempfile.mkdtemp(prefix="mcrc-schemathesis-"))
_URL = f"sqlite:///{_DIR / 'st.db'}"
APP = create_app(Settings(database_url=_URL, max_body_bytes=200_000))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


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


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case, token):
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
