"""Issue 15: one strict JSON reader and strict patient types at every entry point; never a 5xx or a traceback.

Each reproduction of the hardening review is a test here (deep nesting, NUL, lax types, duplicate keys, BOM,
huge integers, NaN), asserted at the reader and at the entry points it reached: the REST API, the FHIR
endpoint, the CLI (`recommend`, `case add`, `case import`) and, on both store backends, case creation.
A hypothesis property sends generated JSON documents to all of them.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mcrc import strictjson
from mcrc.api import Settings, create_app
from mcrc.cli import app as cli_app
from mcrc.errors import InputError, JsonInputError
from mcrc.patient import parse_patient
from mcrc.store.api import Store
from tests.stores import backend_url, store_with_clinician

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"
DEEP = "[" * 1000 + "]" * 1000  # the review's reproduction
JSON_HEADERS = {"content-type": "application/json"}


def _example() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def _refused(text: str | bytes) -> list[tuple[str, str]]:
    with pytest.raises(JsonInputError) as exc:
        strictjson.loads(text)
    return [(p.where, p.message) for p in exc.value.problems]


# ---- the reader ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "where", "message"), [
    pytest.param(DEEP, "(document)", "nested deeper than 64 levels", id="deep-1000"),
    pytest.param('{"a":' * 65 + "1" + "}" * 65, "a.a.a.a.a.a.a.a ...", "nested deeper than 64 levels", id="deep-65"),
    pytest.param('{"id": "a\\u0000b"}', "id", "U+0000 (NUL) at character 2", id="nul"),
    pytest.param('{"x": ["ok", "\\u001b[31m"]}', "x[1]", "U+001B (escape)", id="escape-char"),
    pytest.param('{"x": "\x7f"}', "x", "U+007F (DEL)", id="raw-del"),
    pytest.param('{"x": "\\u0085"}', "x", "U+0085", id="c1-control"),
    pytest.param('{"x": "\\ud800"}', "x", "unpaired surrogate", id="lone-surrogate"),
    pytest.param('{"k\\u0000": 1}', "k\\u0000", "the field name contains a control character", id="nul-in-key"),
    pytest.param('{"ecog": 1, "ecog": 2}', "ecog", "appears more than once", id="duplicate-key"),
    pytest.param('{"primary": {"ct": "T3", "ct": "T4"}}', "primary.ct", "appears more than once", id="dup-nested"),
    pytest.param('{"age": 1' + "0" * 5000 + "}", "age", "an integer of 5,001 digits is beyond any clinical",
                 id="5000-digits"),
    pytest.param('{"cea_ng_ml": NaN}', "cea_ng_ml", "NaN is not a JSON number", id="nan"),
    pytest.param('{"cea_ng_ml": -Infinity}', "cea_ng_ml", "-Infinity is not a JSON number", id="-infinity"),
    pytest.param('{"cea_ng_ml": 1e999}', "cea_ng_ml", "too large to represent", id="1e999"),
    pytest.param('{"ecog": ', "line 1 column 10", "malformed JSON", id="truncated"),
    pytest.param(b'{"id": "\xff"}', "(document)", "is not UTF-8 text (invalid byte 0xff at byte 9)", id="not-utf8"),
    pytest.param(b"\xff\xfe{\x00}\x00", "(document)", "UTF-16 or UTF-32", id="utf16"),
])
def test_reader_refuses_with_where_and_what(text, where, message):
    problems = _refused(text)
    assert any(w == where and message in m for w, m in problems), problems


def test_reader_accepts_what_json_allows():
    assert strictjson.loads('{"note": "tab\\there\\nnew line", "emoji": "\\ud83d\\ude00", "lit": "\\\\u0000"}') == {
        "note": "tab\there\nnew line", "emoji": "\U0001F600", "lit": "\\u0000"}
    assert strictjson.loads("[" * 64 + "]" * 64) is not None  # exactly the limit
    assert strictjson.loads('{"n": 123456789012345, "f": 1.5e300}') == {"n": 123456789012345, "f": 1.5e300}
    assert strictjson.loads("\ufeff{}") == {} and strictjson.loads(b"\xef\xbb\xbf{}") == {}  # BOM, text or bytes


def test_reader_lists_every_problem_in_document_order():
    problems = _refused('{"a": NaN, "b": {"c": "\\u0000", "c": 1}, "d": 1' + "0" * 30 + "}")
    assert [w for w, _ in problems] == ["a", "b.c", "d"]


def test_reader_size_limit():
    assert "the limit is 100" in _refused_limit(b"[" + b"1," * 60 + b"1]")[0][1]


def _refused_limit(data: bytes) -> list[tuple[str, str]]:
    with pytest.raises(JsonInputError) as exc:
        strictjson.loads(data, max_bytes=100)
    return [(p.where, p.message) for p in exc.value.problems]


# ---- strict patient types -----------------------------------------------------------------------
@pytest.mark.parametrize(("path", "value", "message"), [
    pytest.param("fitness.fit_for_surgery", "yes", "expected true or false, got the text 'yes'", id="yes"),
    pytest.param("preferences.declines_surgery", "no", "expected true or false, got the text 'no'", id="no"),
    pytest.param("cea_ng_ml", True, "expected a number, got the boolean true", id="bool-as-number"),
    pytest.param("ecog", "0", "expected a whole number, got the text '0'", id="digit-string"),
    pytest.param("ecog", 1.5, "expected a whole number, got the number 1.5", id="fraction-as-int"),
    pytest.param("id", "a\u0007b", "contains a control character; only tab, line feed and carriage return are "
                 "allowed in text", id="bell-from-python"),
    pytest.param("primary.diagnosed", 1700000000, "expected a date as YYYY-MM-DD text, got int 1700000000",
                 id="unix-time"),
    pytest.param("primary.diagnosed", "1700000000", "expected a date as YYYY-MM-DD text, got '1700000000'",
                 id="digit-string-date"),
    pytest.param("primary.diagnosed", "2023-02-30", "'2023-02-30' is not a calendar date", id="no-such-day"),
    pytest.param("id", 5, "expected text, got the number 5", id="number-as-text"),
    pytest.param("cea_ng_ml", float("nan"), "expected a finite number, got the number nan", id="nan-object"),
])
def test_patient_types_are_strict(path, value, message):
    patient = _example()
    node = patient
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    with pytest.raises(InputError) as exc:
        parse_patient(patient)
    assert [(p.where, p.message) for p in exc.value.problems] == [(path, message)]


def test_dates_as_text_and_numbers_as_numbers_stay_accepted():
    patient = _example()
    patient["cea_ng_ml"] = 5  # an integer is a number
    patient["ecog"] = 1.0  # and, as in JSON Schema, a number without a fraction is an integer
    p = parse_patient(patient)
    assert p.cea_ng_ml == 5.0 and p.ecog == 1 and isinstance(p.ecog, int)
    assert p.primary is not None and p.primary.diagnosed is not None


# ---- entry points -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'api.db'}"
    token = store_with_clinician(url)
    with TestClient(create_app(Settings(database_url=url, open_assess=True))) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


BODIES = {
    "deep": (DEEP.encode(), "(document)", "nested deeper"),
    "nul": (json.dumps({**_example(), "id": "a\u0000b"}).encode(), "id", "U+0000 (NUL)"),
    "duplicate": (b'{"ecog": 0, "ecog": 4}', "ecog", "appears more than once"),
    "5000 digits": (b'{"age": 1' + b"0" * 5000 + b"}", "age", "5,001 digits"),
    "nan": (b'{"cea_ng_ml": NaN}', "cea_ng_ml", "NaN is not a JSON number"),
}


@pytest.mark.parametrize("route", ["/api/v1/assess", "/api/v1/cases", "/api/v1/fhir/assess"])
@pytest.mark.parametrize("name", list(BODIES))
def test_api_refuses_unacceptable_json_with_400_and_where(api, route, name):
    body, where, message = BODIES[name]
    r = api.post(route, content=body, headers=JSON_HEADERS)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith("/malformed-json") and "Python" not in r.text and "Exceeds" not in r.text
    assert any(e["field"] == where and message in e["message"] for e in problem["errors"]), problem
    if where == "ecog":
        assert any(e.get("pointer") == "/ecog" for e in problem["errors"])


def test_api_lax_types_are_422_with_the_field(api):
    patient = _example()
    patient["fitness"] = {"fit_for_surgery": "yes"}
    patient["ecog"] = "0"
    r = api.post("/api/v1/assess", json=patient)
    assert r.status_code == 422, r.text
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert fields == {"ecog": "expected a whole number, got the text '0'",
                      "fitness.fit_for_surgery": "expected true or false, got the text 'yes'"}


def test_bom_is_accepted_by_api_and_cli_alike(api, tmp_path):
    body = b"\xef\xbb\xbf" + EXAMPLE.read_bytes()
    assert api.post("/api/v1/assess", content=body, headers=JSON_HEADERS).status_code == 200
    file = tmp_path / "bom.json"
    file.write_bytes(body)
    r = CliRunner().invoke(cli_app, ["recommend", str(file), "--format", "json"])
    assert r.exit_code == 0, r.output


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcrc.cli", *args], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("name", list(BODIES))
def test_cli_recommend_exits_2_without_traceback(name, tmp_path):
    body, where, message = BODIES[name]
    file = tmp_path / "in.json"
    file.write_bytes(body)
    for args in (["recommend", str(file)], ["recommend", "--fhir", str(file)]):
        r = _cli(*args)
        err = r.stderr.decode()
        assert r.returncode == 2, err
        assert "Traceback" not in err and f"{where}: " in err and message in err, err


def test_cli_case_add_and_import_exit_2_without_traceback(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store_with_clinician(url)
    for name, (body, where, message) in BODIES.items():
        file = tmp_path / f"{name}.json"
        file.write_bytes(body)
        for command in (["case", "add"], ["case", "import"]):
            r = _cli(*command, str(file), "--db", url, "--user", "cli")
            err = r.stderr.decode()
            assert r.returncode == 2 and "Traceback" not in err, (command, name, err)
            assert f"{where}: " in err and message in err, (command, name, err)
    with Store(url) as s:
        assert s.list_cases("cli") == []  # nothing half-written


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_nul_never_reaches_either_store(kind, tmp_path):
    with backend_url(kind, tmp_path) as url:
        token = store_with_clinician(url)
        with TestClient(create_app(Settings(database_url=url))) as client:
            r = client.post("/api/v1/cases", content=BODIES["nul"][0],
                            headers={**JSON_HEADERS, "Authorization": f"Bearer {token}"})
            assert r.status_code == 400 and r.json()["errors"][0]["field"] == "id", r.text
            assert client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).json() == []


# ---- property: no generated document gives a 5xx or a traceback ------------------------------------
_KEYS = st.sampled_from(["id", "age", "ecog", "primary", "location", "metastases", "organ", "count", "biomarkers",
                         "kras", "cea_ng_ml", "diagnosed", "resourceType", "entry", "resource", "x", "a\u0000",
                         "\ud800", "é"])
_STRINGS = st.one_of(st.text(max_size=12), st.sampled_from(["rectum", "lung", "2020-01-01", "yes", "0", "\u0000",
                                                            "\u0085", "Bundle", "wild_type"]))
_NUMBERS = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                     st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400, "-0", "1.0"]))


def _number_text(n) -> str:
    return n if isinstance(n, str) else json.dumps(n)


def _string_text(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)  # lone surrogates and controls as \\u escapes


_SCALARS = st.one_of(st.just("null"), st.just("true"), st.just("false"), _NUMBERS.map(_number_text),
                     _STRINGS.map(_string_text))


def _container(children):
    pairs = st.lists(st.tuples(_KEYS.map(_string_text), children), max_size=5)  # keys may repeat
    return st.one_of(st.lists(children, max_size=5).map(lambda xs: "[" + ",".join(xs) + "]"),
                     pairs.map(lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"))


_DOCUMENTS = st.one_of(
    st.recursive(_SCALARS, _container, max_leaves=40),
    st.integers(1, 200).map(lambda n: "[" * n + "]" * n),  # nesting around and beyond the limit
    st.integers(1, 90).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.text(max_size=30),  # not JSON at all
).map(lambda text: text.encode("utf-8", "surrogatepass"))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(doc=_DOCUMENTS)
def test_no_document_gives_a_5xx_or_a_traceback(api, doc):
    with contextlib.suppress(JsonInputError):  # the reader answers or refuses; anything else fails the test
        strictjson.loads(doc)
    for route in ("/api/v1/assess", "/api/v1/cases", "/api/v1/fhir/assess"):
        r = api.post(route, content=doc, headers=JSON_HEADERS)
        assert r.status_code < 500, (route, doc[:200], r.text)
        assert r.status_code in (200, 201, 400, 422), (route, r.status_code, r.text)
    result = CliRunner().invoke(cli_app, ["recommend", "-", "--format", "json"], input=doc)
    assert result.exit_code in (0, 2), (doc[:200], result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
