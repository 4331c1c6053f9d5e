"""The MCP server (`mcrc mcp`, issue 21 item 4) through the SDK's own client, in process: every tool answers with
the engine's output and its knowledge-base digest; bad arguments and oversized inputs are tool errors with a
specific message, never a traceback. tests/test_mcp_stdio.py runs the same server as a subprocess over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import anyio
import pytest
from mcp import Client

import mcrc
from mcrc.fhir import read_bundle
from mcrc.knowledge import load_knowledge
from mcrc.mcp import MAX_INPUT_BYTES, build_server, statement
from mcrc.render.sources import sources_view
from mcrc.render.text import render_summary_text, render_text

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
BUNDLES = sorted((ROOT / "examples" / "fhir").glob("*.json"))
KB = load_knowledge()
SERVER = build_server(KB)
TOOLS = {"assess", "explain_row", "search_knowledge", "vocabulary", "patient_schema"}


def session(fn):
    """Run `fn(client)` against the server in process; return what it returns."""
    async def main():
        async with Client(SERVER) as client:
            return await fn(client)

    return anyio.run(main)


def call(name: str, args: dict):
    return session(lambda c: c.call_tool(name, args))


def calls(pairs: list[tuple[str, dict]]):
    async def run(c):
        return [await c.call_tool(name, args) for name, args in pairs]

    return session(run)


def text(result) -> str:
    return "\n".join(block.text for block in result.content)


def assert_engine_answer(result) -> dict:
    """A successful tool answer: opens with the engine statement naming the knowledge-base digest, and carries the
    same in its structured content."""
    assert not result.is_error, text(result)
    data = result.structured_content
    assert data["kb_version"] == KB.version and data["engine_version"] == mcrc.engine.evaluate.ENGINE_VERSION
    assert data["statement"] == statement(KB.version) and KB.version in data["statement"]
    assert result.content[0].text.startswith(data["statement"])
    assert json.loads(result.content[-1].text) == data  # the text-only view carries the same structured answer
    return data


def assert_tool_error(result, *needles: str) -> str:
    assert result.is_error
    message = text(result)
    assert "Traceback" not in message and 'File "' not in message
    assert "errors.pydantic.dev" not in message
    for needle in needles:
        assert needle in message, message
    return message


def example(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# ---- the tools and resources offered ---------------------------------------------------------------------------

def test_tools_and_resources_listed_with_schemas():
    async def run(c):
        return await c.list_tools(), await c.list_resources(), await c.list_resource_templates()

    tools, resources, templates = session(run)
    assert {t.name for t in tools.tools} == TOOLS
    for t in tools.tools:
        assert t.description and t.input_schema["type"] == "object"
        assert t.output_schema and {"statement", "kb_version"} <= set(t.output_schema["properties"])
        assert t.annotations.read_only_hint is True
    assess = next(t for t in tools.tools if t.name == "assess")
    assert set(assess.input_schema["properties"]) == {"patient", "fhir_bundle", "strict", "include_trace",
                                                           "full_report"}
    assert {str(r.uri) for r in resources.resources} == {"mcrc://sources", "mcrc://trace"}
    assert {t.uri_template for t in templates.resource_templates} == {"mcrc://trace/{source}"}


def test_instructions_tell_the_assistant_to_relay_not_decide():
    async def run(c):
        return c.instructions

    info = session(run)
    assert "Do not choose or invent treatment" in info and "verbatim" in info


# ---- assess ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_assess_every_example_relays_the_engine_answer(path: Path):
    patient = example(path)
    data = assert_engine_answer(call("assess", {"patient": patient}))
    a = mcrc.assess(mcrc.parse_patient(patient), kb=KB, trace=False)
    assert data["input_kind"] == "patient" and data["scope"] == a.scope.status
    assert data["assessment"] == a.model_dump(mode="json", exclude={"trace"})
    assert data["assessment"]["provenance"]["kb_version"] == data["kb_version"]
    assert data["summary_text"] == render_summary_text(a, width=100)
    # every citation of the goal, the strategies, the regimens and the warnings is in the citation list
    listed = {(c["source"], c["where"], c["footnote"]) for c in data["citations"]}
    used = [c for item in [a.goal, *a.strategies, *a.regimens, *a.warnings, *a.first_steps] if item
            for c in item.citations]
    assert used or a.scope.status != "in_scope"
    assert {(c.source, c.where, c.footnote) for c in used} <= listed
    assert all(c["title"] == (KB.sources[c["source"]].get("title") or c["source"]) for c in data["citations"])


@pytest.mark.parametrize("path", BUNDLES, ids=lambda p: p.stem)
def test_assess_every_sample_fhir_bundle(path: Path):
    bundle = example(path)
    data = assert_engine_answer(call("assess", {"fhir_bundle": bundle}))
    read = read_bundle(bundle)
    a = mcrc.assess(read.patient, kb=KB, trace=False)
    assert data["input_kind"] == "fhir_bundle"
    assert data["assessment"] == a.model_dump(mode="json", exclude={"trace"})
    assert data["fhir_not_mapped"] == list(read.unmapped) and data["fhir_warnings"] == list(read.warnings)


def test_assess_json_text_same_as_object_and_options():
    patient = example(EXAMPLES[0])
    as_object, as_text, strict, traced, full = calls([
        ("assess", {"patient": patient}), ("assess", {"patient": json.dumps(patient)}),
        ("assess", {"patient": patient, "strict": True}), ("assess", {"patient": patient, "include_trace": True}),
        ("assess", {"patient": patient, "full_report": True})])
    assert assert_engine_answer(as_object)["assessment"] == assert_engine_answer(as_text)["assessment"]
    assert "trace" not in assert_engine_answer(as_object)["assessment"]
    assert assert_engine_answer(traced)["assessment"]["trace"]
    a = mcrc.assess(mcrc.parse_patient(patient), kb=KB)
    assert assert_engine_answer(strict)["summary_text"] == render_summary_text(a, width=100, strict=True)
    assert assert_engine_answer(full)["summary_text"] == render_text(a, width=100)


def test_assess_provisional_answer_summarised_unless_strict():
    """Where presumptions were used the summary shows the provisional answer with its assumptions, as the
    terminal does; `strict` shows the strict one."""
    with_presumption = next(p for p in EXAMPLES
                            if mcrc.assess(mcrc.parse_patient(example(p)), kb=KB).provisional is not None)
    shown, strict = calls([("assess", {"patient": example(with_presumption)}),
                           ("assess", {"patient": example(with_presumption), "strict": True})])
    assert "ASSUMED" in assert_engine_answer(shown)["summary_text"]
    assert "ASSUMED" not in assert_engine_answer(strict)["summary_text"]


BAD_ASSESS = [
    ({"patient": "68 year old woman, KRAS G12C, liver and lung metastases after two lines"},
     ["patient must be a JSON object", "not free text"]),
    ({}, ["give exactly one of `patient`", "`fhir_bundle`"]),
    ({"patient": {}, "fhir_bundle": {}}, ["give exactly one of", "both were given"]),
    ({"patient": 5}, ["bad arguments: patient:"]),
    ({"patient": [1, 2]}, ["bad arguments: patient:"]),
    ({"patient": "[1, 2]"}, ["patient must be a JSON object", "got an array"]),
    ({"text": "a patient"}, ["unknown argument(s) 'text'",
                             "allowed: patient, fhir_bundle, strict, include_trace, full_report"]),
    ({"patient": {"age": "old"}}, ["patient: invalid patient input", "age:"]),
    ({"patient": '{"age": 60, "age": 61}'}, ["age: this key appears more than once"]),
    ({"patient": '{"age": NaN}'}, ["patient: unacceptable JSON"]),
    ({"patient": '{"a":' * 100 + "1" + "}" * 100}, ["patient: unacceptable JSON", "64"]),
    ({"patient": '{"age": 60'}, ["patient: unacceptable JSON"]),
    ({"fhir_bundle": {"resourceType": "Patient"}}, ["fhir_bundle: invalid patient input", "Bundle.resourceType",
                                                    "expected 'Bundle'"]),
    ({"fhir_bundle": "Mrs X has rectal cancer"}, ["fhir_bundle must be a JSON object", "not free text"]),
    ({"patient": {"age": 60}, "strict": "yes"}, ["bad arguments: strict: Input should be a valid boolean"]),
    ({"patient": {"age": 60}, "include_trace": 1}, ["bad arguments: include_trace:"]),
]


@pytest.mark.parametrize(("args", "needles"), BAD_ASSESS, ids=[str(i) for i in range(len(BAD_ASSESS))])
def test_assess_bad_arguments_are_specific_tool_errors(args, needles):
    assert_tool_error(call("assess", args), "Error executing tool assess", *needles)


def test_assess_nested_too_deep_as_object():
    deep: dict = {}
    node = deep
    for _ in range(80):
        node["x"] = {}
        node = node["x"]
    assert_tool_error(call("assess", {"patient": deep}), "unacceptable JSON", "nest")


def test_oversized_input_refused_as_object_and_as_text():
    padding = "x" * MAX_INPUT_BYTES
    patient = {**example(EXAMPLES[0]), "id": padding}
    for args in ({"patient": patient}, {"patient": json.dumps(patient)}, {"fhir_bundle": {"resourceType": "Bundle",
                                                                                        "id": padding}}):
        msg = assert_tool_error(call("assess", args), "bytes", f"the limit is {MAX_INPUT_BYTES:,} bytes")
        assert padding[:1000] not in msg  # the input is not echoed back
    # just under the limit the size check passes (the record is then judged on its content)
    small = {**example(EXAMPLES[0]), "id": "p"}
    assert_engine_answer(call("assess", {"patient": small}))


def test_input_limit_is_the_rest_api_request_limit():
    from mcrc.api.app import Settings
    from mcrc.config import ServeConfig

    assert next(f.default for f in fields(Settings) if f.name == "max_body_bytes") == MAX_INPUT_BYTES
    assert ServeConfig.model_fields["max_body_bytes"].default == MAX_INPUT_BYTES


def test_server_keeps_answering_after_errors():
    bad, good = calls([("assess", {"patient": "free text"}), ("assess", {"patient": example(EXAMPLES[1])})])
    assert bad.is_error
    assert_engine_answer(good)


# ---- explain_row -----------------------------------------------------------------------------------------------

def test_explain_every_row():
    async def run(c):
        return [(rid, await c.call_tool("explain_row", {"row_id": rid})) for rid in KB.rows]

    for rid, result in session(run):
        row = assert_engine_answer(result)["row"]
        kb_row = KB.rows[rid]
        assert row["id"] == rid and row["table"]["id"] == kb_row.table_id
        assert row["citations"] == [{"source": c.source, "title": KB.sources[c.source].get("title") or c.source,
                                     "where": c.where, "footnote": c.footnote} for c in kb_row.citations]
        if kb_row.default:
            assert row["conditions"] == [] and "no other row" in row["conditions_in_words"]
        else:
            assert len(row["conditions_in_words"]) == len(row["conditions"]) == len(kb_row.conditions())
            for fact in kb_row.facts():
                assert f"[{fact}]" in " ".join(row["conditions_in_words"])
        codes = {i["code"] for items in row["outputs"].values() for i in items}
        codes |= {st["code"] for s in row["strategies"] for st in s["steps"]}
        codes |= {r["code"] for s in row["strategies"] for st in s["steps"] for r in st.get("regimens", [])}
        assert codes == set(kb_row.codes())
        assert [s["id"] for s in row["source_statements"]] == [s.id for s in KB.trace.statements_of_row(rid)]


def test_explain_row_text_names_conditions_outputs_citations():
    result = call("explain_row", {"row_id": "lung.goal.multisite"})
    body = result.content[0].text
    assert "When all of:" in body and "[lung_initial]: yes" in body and "[extrapulmonary_sites]: at least 2" in body
    assert "goal: Disease control" in body and "[ccs-lung-2019], Table 5, footnote 2" in body
    assert "Encodes source statement LUNG-T5-1" in body


@pytest.mark.parametrize(("args", "needles"), [
    ({"row_id": "lung.goal.multisit"}, ["no row 'lung.goal.multisit'", "did you mean lung.goal.multisite"]),
    ({"row_id": "zzzz"}, ["no row 'zzzz'", "search_knowledge"]),
    ({}, ["bad arguments: row_id: Field required"]),
    ({"row_id": 7}, ["bad arguments: row_id:"]),
    ({"row_id": "x" * 201}, ["bad arguments: row_id:", "200"]),
])
def test_explain_row_bad_arguments(args, needles):
    assert_tool_error(call("explain_row", args), "Error executing tool explain_row", *needles)


# ---- search_knowledge ------------------------------------------------------------------------------------------

def test_search_finds_rows_and_source_statements_by_words():
    data = assert_engine_answer(call("search_knowledge", {"query": "sublobar"}))
    assert "lung.local.resection_principles" in {r["id"] for r in data["rows"]}
    assert "LUNG-SP1" in {s["id"] for s in data["statements"]}
    assert all(KB.rows[r["id"]].title == r["title"] for r in data["rows"])


def test_search_needs_every_word_and_honours_the_limit():
    both = assert_engine_answer(call("search_knowledge", {"query": "lung oxaliplatin"}))
    for s in both["statements"]:
        blob = " ".join([s["id"], s["source"], s["section"], s["where"], s["paraphrase"]]).lower()
        assert "lung" in blob and "oxaliplatin" in blob
    one = assert_engine_answer(call("search_knowledge", {"query": "lung", "limit": 1}))
    assert len(one["rows"]) <= 1 and len(one["statements"]) <= 1 and one["truncated"] is True
    none = assert_engine_answer(call("search_knowledge", {"query": "xylophone"}))
    assert none["rows"] == [] and none["statements"] == [] and none["truncated"] is False


@pytest.mark.parametrize(("args", "needles"), [
    ({"query": "   "}, ["query has no words"]),
    ({"query": "a" * 201}, ["query is 201 characters; at most 200"]),
    ({"query": "lung", "limit": 0}, ["bad arguments: limit:"]),
    ({"query": "lung", "limit": 51}, ["bad arguments: limit:"]),
    ({"query": "lung", "limit": "5"}, ["bad arguments: limit: Input should be a valid integer"]),
    ({}, ["bad arguments: query: Field required"]),
])
def test_search_bad_arguments(args, needles):
    assert_tool_error(call("search_knowledge", args), "Error executing tool search_knowledge", *needles)


# ---- vocabulary, patient_schema --------------------------------------------------------------------------------

def test_vocabulary_every_section_and_one():
    everything, regimens = calls([("vocabulary", {}), ("vocabulary", {"section": "regimens"})])
    data = assert_engine_answer(everything)
    assert set(data["sections"]) == set(KB.vocabulary.terms)
    for name, terms in data["sections"].items():
        assert [t["code"] for t in terms] == list(KB.vocabulary.terms[name])
        assert all(t["label"] == KB.vocabulary.terms[name][t["code"]].label for t in terms)
    reg = assert_engine_answer(regimens)["sections"]
    assert list(reg) == ["regimens"] and all("drugs" in t for t in reg["regimens"] if KB.vocabulary.terms[
        "regimens"][t["code"]].drugs)


def test_vocabulary_unknown_section():
    assert_tool_error(call("vocabulary", {"section": "drugz"}), "unknown section 'drugz'", "allowed: actions")


def test_patient_schema_is_what_mcrc_schema_prints():
    data = assert_engine_answer(call("patient_schema", {}))
    assert data["schema"] == mcrc.Patient.model_json_schema()
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "schema"], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert json.loads(r.stdout) == data["schema"]


# ---- resources -------------------------------------------------------------------------------------------------

def read(uri: str):
    return session(lambda c: c.read_resource(uri))


def test_sources_resource():
    doc = json.loads(read("mcrc://sources").contents[0].text)
    assert doc["kb_version"] == KB.version and KB.version in doc["statement"]
    assert doc["sources"] == json.loads(json.dumps(sources_view(KB)))


def test_trace_resources():
    from mcrc.render import trace as rt

    summary = json.loads(read("mcrc://trace").contents[0].text)
    assert summary["kb_version"] == KB.version and summary["sources"] == json.loads(json.dumps(rt.summary_rows(KB)))
    source = next(iter(KB.trace.sources))
    one = json.loads(read(f"mcrc://trace/{source}").contents[0].text)
    assert one["kb_version"] == KB.version and one["source"] == source
    assert [s["id"] for sec in one["sections"] for s in sec["statements"]] == \
        [s.id for s in KB.trace.sources[source].statements]


def test_trace_resource_unknown_source_is_a_specific_error():
    from mcp import MCPError

    async def run(c):
        try:
            await c.read_resource("mcrc://trace/nope")
        except MCPError as exc:
            return exc
        return None

    error = session(run)
    assert error is not None and "Traceback" not in str(error)
    assert str(error).startswith("no traceability matrix for source 'nope'; sources with one: ")


# ---- the command -----------------------------------------------------------------------------------------------

def test_cli_does_not_import_the_sdk_at_start_up():
    r = subprocess.run([sys.executable, "-c", "import sys, mcrc.cli; print(sorted(m for m in sys.modules "
                        "if m == 'mcp' or m.startswith(('mcp.', 'mcp_types', 'mcrc.mcp'))))"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_mcp_command_listed_in_help():
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "mcp", "--help"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60)
    assert r.returncode == 0 and "Model Context Protocol" in r.stdout


def test_docs_name_every_tool_argument_and_resource():
    doc = (ROOT / "docs" / "mcp.md").read_text(encoding="utf-8")

    async def run(c):
        return await c.list_tools(), await c.list_resources(), await c.list_resource_templates()

    tools, resources, templates = session(run)
    for t in tools.tools:
        assert f"`{t.name}`" in doc
        for arg in t.input_schema.get("properties", {}):
            assert f"`{arg}`" in doc, (t.name, arg)
    for uri in [str(r.uri) for r in resources.resources] + [t.uri_template for t in templates.resource_templates]:
        assert f"`{uri}`" in doc
    assert f"{MAX_INPUT_BYTES:,} bytes" in doc


def test_the_digest_names_the_knowledge_that_answered(tmp_path):
    """A knowledge base with one row's title changed answers under another digest, and says so."""
    from mcrc.knowledge import load_knowledge_dir
    from tests.kbcopy import LUNG, kb_copy

    edited = load_knowledge_dir(kb_copy(tmp_path, [(LUNG, "none unresectable (Table 5): mainly systemic therapy",
                                                    "none unresectable (Table 5): systemic therapy first")]))
    assert edited.version != KB.version

    async def run(c):
        return (await c.call_tool("explain_row", {"row_id": "lung.goal.multisite"}),
                await c.call_tool("assess", {"patient": example(EXAMPLES[0])}))

    async def main():
        async with Client(build_server(edited)) as c:
            return await run(c)

    row, answer = anyio.run(main)
    for result in (row, answer):
        assert result.structured_content["kb_version"] == edited.version
        assert edited.version in result.content[0].text.splitlines()[0]
    assert answer.structured_content["assessment"]["provenance"]["kb_version"] == edited.version
    assert row.structured_content["row"]["title"].endswith("systemic therapy first")


def test_malformed_knowledge_stops_the_command_before_serving(tmp_path):
    from tests.kbcopy import LUNG, kb_copy

    anchor = "      - id: lung.goal.multisite\n"
    broken = kb_copy(tmp_path, [(LUNG, anchor, anchor + "  oops\n")])
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "mcp", "--kb", str(broken)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 3, r.stderr
    assert r.stdout == ""  # nothing a client would take for a protocol message
    assert "10-ccs-lung-2019.yaml" in r.stderr and "Traceback" not in r.stderr


def test_building_the_server_leaves_the_root_logger_alone():
    import logging

    root = logging.getLogger()
    before = (root.handlers[:], root.level)
    build_server(KB)
    assert (root.handlers[:], root.level) == before


def test_an_unexpected_failure_is_reported_without_internals(monkeypatch):
    import mcrc.mcp.tools as ms

    def crash(*_a, **_k):
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(ms, "engine_assess", crash)

    async def main():
        async with Client(build_server(KB)) as c:
            return await c.call_tool("assess", {"patient": example(EXAMPLES[0])})

    result = anyio.run(main)
    assert result.is_error and text(result) == "Error executing tool assess"
