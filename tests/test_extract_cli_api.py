"""`mcrc extract` and `POST /api/v1/extract` (issue 22): the draft with its provenance end to end, and bad input
refused with a specific message and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from mcrc.api import Settings, create_app
from mcrc.cli import app
from mcrc.patient import parse_patient
from mcrc.store.api import Store

REPORTS = Path(__file__).resolve().parent / "extraction" / "reports"
PATHOLOGY = REPORTS / "01-path-sigmoid-kras-g12c.txt"
CT = REPORTS / "15-ct-cap-lung-liver.txt"
PROBLEM = "application/problem+json"
runner = CliRunner()


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_prints_fields_with_their_words_and_writes_the_draft(tmp_path):
    out = tmp_path / "draft.json"
    result = runner.invoke(app, ["extract", str(PATHOLOGY), str(CT), "-o", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "biomarkers.kras_variant" in result.output and "G12C" in result.output
    assert "01-path-sigmoid-kras-g12c.txt (pathology)" in result.output
    assert "15-ct-cap-lung-liver.txt (radiology)" in result.output
    draft = json.loads(out.read_text(encoding="utf-8"))
    assert set(draft) == {"patient", "provenance", "conflicts", "unmapped", "documents"}
    parse_patient({"schema_version": "2", **draft["patient"]})
    src = draft["provenance"]["biomarkers.kras_variant"]
    text = PATHOLOGY.read_text(encoding="utf-8")
    assert src["document"] == PATHOLOGY.name and text[src["start"]:src["end"]] == src["text"]
    assert "G12C" in src["sentence"]
    liver = next(i for i, m in enumerate(draft["patient"]["metastases"]) if m["organ"] == "liver")
    assert draft["provenance"][f"metastases[{liver}].largest_size.value"]["document"] == CT.name


def test_cli_type_option_is_used(tmp_path):
    report = tmp_path / "note.txt"
    report.write_text("KRAS wild-type. Obstructing sigmoid tumour.", encoding="utf-8")
    out = tmp_path / "d.json"
    assert runner.invoke(app, ["extract", "--type", "pathology", str(report), "-o", str(out)]).exit_code == 0
    draft = json.loads(out.read_text(encoding="utf-8"))
    assert draft["documents"][0]["type"] == "pathology"
    assert "emergency" not in draft["patient"].get("primary", {})  # an emergency is read from radiology and letters


@pytest.mark.parametrize(("data", "message"), [
    (b"", "the report is empty"),
    (b"\x00\x01\x02\x03", "binary file"),
    (b"\xff\xfe\x00K\x00R", "binary file"),
    ("Résumé".encode("latin-1"), "not UTF-8 text"),
])
def test_cli_refuses_bad_files_and_writes_nothing(tmp_path, data, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(data)
    out = tmp_path / "draft.json"
    result = runner.invoke(app, ["extract", str(PATHOLOGY), str(bad), "-o", str(out)])
    assert result.exit_code == 2
    assert message in result.output and "bad.txt" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_refuses_a_file_over_5_mb_before_reading_it(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(5 * 1024 * 1024 + 1)
    result = runner.invoke(app, ["extract", str(big)])
    assert result.exit_code == 2 and "the limit is 5,242,880" in result.output


def test_cli_missing_file():
    result = runner.invoke(app, ["extract", "no-such-report.txt"])
    assert result.exit_code == 2 and "no such file" in result.output


# ---------------------------------------------------------------------------------------------------- API
@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('extract') / 'api.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("cli", "clinician")
        token = s.create_token("cli", label="tests").token
    with TestClient(create_app(Settings(database_url=url))) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def _docs(*paths: Path) -> dict:
    return {"documents": [{"name": p.name, "text": p.read_text(encoding="utf-8")} for p in paths]}


def test_api_answers_the_draft_with_provenance(api):
    client, auth = api
    r = client.post("/api/v1/extract", json=_docs(PATHOLOGY, CT), headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"patient", "provenance", "conflicts", "unmapped", "documents"}
    assert body["patient"]["biomarkers"]["kras_variant"] == "G12C"
    src = body["provenance"]["biomarkers.kras"]
    assert src["document"] == PATHOLOGY.name and src["confidence"] in ("explicit", "inferred")
    assert PATHOLOGY.read_text(encoding="utf-8")[src["start"]:src["end"]] == src["text"]
    # the draft is a patient the assess endpoint accepts as it is
    assessed = client.post("/api/v1/assess", json=body["patient"], headers=auth)
    assert assessed.status_code == 200, assessed.text


def test_api_reports_conflicts(api):
    client, auth = api
    body = {"documents": [{"name": "a", "text": "KRAS wild-type."}, {"name": "b", "text": "KRAS G12D mutant."}]}
    r = client.post("/api/v1/extract", json=body, headers=auth)
    assert r.status_code == 200
    assert [c["field"] for c in r.json()["conflicts"]] == ["biomarkers.kras"]
    assert "kras" not in r.json()["patient"].get("biomarkers", {})


def test_api_needs_the_assess_token(api):
    client, _ = api
    r = client.post("/api/v1/extract", json=_docs(PATHOLOGY))
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(("body", "where"), [
    ({"documents": [{"name": "empty.txt", "text": "  "}]}, "empty.txt"),
    ({"documents": [{"name": "bin.txt", "text": "\x00\x01binary"}]}, "bin.txt"),
    ({"documents": [{"name": "r.txt", "type": "discharge", "text": "KRAS wild-type."}]}, "type"),
    ({"documents": []}, "documents"),
    ({"docs": []}, "docs"),
])
def test_api_refuses_bad_input_with_a_problem(api, body, where):
    client, auth = api
    r = client.post("/api/v1/extract", json=body, headers=auth)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert "Traceback" not in r.text
    assert any(where in (e.get("field") or "") + e["message"] for e in problem["errors"]), problem


def test_api_refuses_a_body_over_the_limit(api):
    client, auth = api
    body = json.dumps({"documents": [{"name": "big.txt", "text": "x" * 1_100_000}]})
    r = client.post("/api/v1/extract", content=body, headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)
