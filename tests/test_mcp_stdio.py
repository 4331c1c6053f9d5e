"""`mcrc mcp` as an MCP client launches it: a subprocess speaking the protocol on stdin/stdout, driven by the SDK's
own stdio client. One server process answers every call of the session below (start-up is about 2 s)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

import mcrc
from mcrc.knowledge import load_knowledge
from mcrc.mcp import MAX_INPUT_BYTES

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "22-lung-liver-ovary-all-resectable.json"
BUNDLE = ROOT / "examples" / "fhir" / "02-left-colon-ras-wt-liver.json"


def _params() -> StdioServerParameters:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return StdioServerParameters(command=sys.executable, args=["-m", "mcrc.cli", "mcp"], env=env, cwd=str(ROOT))


@pytest.fixture(scope="module")
def stdio_session():
    """One server subprocess: list what it offers, then a scripted series of calls; its standard error kept."""
    patient = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    bundle = json.loads(BUNDLE.read_text(encoding="utf-8"))
    script = [
        ("assess", {"patient": patient}),
        ("assess", {"fhir_bundle": bundle}),
        ("assess", {"patient": "Mr X, 70, rectal cancer with three liver metastases, RAS wild-type"}),
        ("assess", {"patient": {"age": "seventy"}}),
        ("assess", {"patient": 12}),
        ("assess", {"patient": {**patient, "id": "x" * (MAX_INPUT_BYTES + 1)}}),
        ("explain_row", {"row_id": "no.such.row"}),
        ("explain_row", {"row_id": "lung.goal.multisite"}),
        ("search_knowledge", {"query": "sublobar"}),
        ("assess", {"patient": json.dumps(patient)}),  # still answering after the errors, JSON text too
    ]

    async def main(errlog):
        async with Client(stdio_client(_params(), errlog=errlog)) as c:
            tools = await c.list_tools()
            resources = await c.list_resources()
            sources = await c.read_resource("mcrc://sources")
            results = [await c.call_tool(name, args) for name, args in script]
            return tools, resources, sources, results

    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        tools, resources, sources, results = anyio.run(main, errlog)
        errlog.seek(0)
        stderr = errlog.read()
    return {"tools": tools, "resources": resources, "sources": sources, "results": results, "stderr": stderr}


def test_stdio_lists_the_tools_and_resources(stdio_session):
    assert {t.name for t in stdio_session["tools"].tools} == {"assess", "explain_row", "search_knowledge",
                                                              "vocabulary", "patient_schema"}
    assert {str(r.uri) for r in stdio_session["resources"].resources} == {"mcrc://sources", "mcrc://trace"}
    doc = json.loads(stdio_session["sources"].contents[0].text)
    assert doc["kb_version"] == load_knowledge().version


def test_stdio_assess_is_the_engine_answer_with_its_digest(stdio_session):
    kb = load_knowledge()
    patient = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    a = mcrc.assess(mcrc.parse_patient(patient), kb=kb, trace=False)
    for result in (stdio_session["results"][0], stdio_session["results"][-1]):
        assert not result.is_error
        data = result.structured_content
        assert data["assessment"] == a.model_dump(mode="json", exclude={"trace"})
        assert data["kb_version"] == a.provenance.kb_version == kb.version
        assert result.content[0].text.startswith(data["statement"]) and kb.version in data["statement"]
    bundle = stdio_session["results"][1]
    assert not bundle.is_error and bundle.structured_content["input_kind"] == "fhir_bundle"


def test_stdio_bad_arguments_and_oversized_input_are_specific_errors(stdio_session):
    expected = {
        2: "patient must be a JSON object (the Patient schema: patient_schema), not free text",
        3: "patient: invalid patient input (1):\n  - age: expected a whole number",
        4: "bad arguments: patient: Input should be a valid dictionary",
        5: f"the limit is {MAX_INPUT_BYTES:,} bytes (the REST API's request size limit)",
        6: "no row 'no.such.row'",
    }
    for i, needle in expected.items():
        result = stdio_session["results"][i]
        message = "\n".join(b.text for b in result.content)
        assert result.is_error, message
        assert message.startswith("Error executing tool ") and needle in message, message
        assert "Traceback" not in message
    assert not stdio_session["results"][7].is_error and not stdio_session["results"][8].is_error


def test_stdio_server_logs_no_traceback(stdio_session):
    assert "Traceback" not in stdio_session["stderr"], stdio_session["stderr"]
