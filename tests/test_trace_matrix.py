"""The traceability matrix (knowledge/data/trace/, decision 0028): every clinical statement of every guideline
source is listed once, encoded by rows that exist or set aside with a reason; `mcrc verify` fails when that is not
so; `mcrc kb trace` prints it with counts; the web knowledge-base page shows it per source."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import mcrc
from mcrc.errors import KnowledgeError
from mcrc.knowledge import default_data_dir, load_knowledge_dir
from mcrc.knowledge.trace import REASONS, TARGETS, guideline_sources, trace_findings, unlisted_citations, untraced_rows
from mcrc.render.trace import render_trace_markdown, render_trace_text, source_view
from mcrc.verify import verify
from mcrc.verify.checks import Verifier

ROOT = Path(__file__).parent.parent
KB = mcrc.load_knowledge()
TRACE = KB.trace
GUIDELINE_FILES = {"000_4e07a0dbe3e17cb2.txt", "001_4e3530433d44b36a.txt", "002_79337ceec57e0d9a.txt",
                   "003_0d541fdc614c9dd1.txt", "004_d04e55d7a5d51a79.txt"}


# --- the shipped matrix ----------------------------------------------------------------------------

def test_every_guideline_source_and_text_has_a_matrix():
    assert set(TRACE.sources) == set(guideline_sources(KB)) == {
        "ccs-lung-2019", "liver-sync-meta", "cvir-2019-palliative", "cancers-2022-rectal"}
    files = {f for st in TRACE.sources.values() for f in st.files}
    assert files == GUIDELINE_FILES  # the five guideline texts, 000 (lung Table 4) folded into the lung matrix


def test_statement_ids_are_unique_and_prefixed_by_source():
    ids = [s.id for s in TRACE.statements()]
    assert len(ids) == len(set(ids))
    prefix = {"ccs-lung-2019": "LUNG-", "liver-sync-meta": "LIVER-", "cvir-2019-palliative": "CVIR-",
              "cancers-2022-rectal": "RECTAL-"}
    for s in TRACE.statements():
        assert s.id.startswith(prefix[s.source]), s.id


def test_every_statement_is_encoded_or_set_aside_with_a_reason():
    for s in TRACE.statements():
        assert s.paraphrase and s.where, s.id
        assert s.status in {"encoded", "set_aside", "open"}, (s.id, s.status)
        assert s.encoded != (s.set_aside is not None), s.id  # one or the other, never both
        if s.set_aside:
            assert s.set_aside.reason in REASONS and s.set_aside.note, s.id


def test_everything_a_statement_names_exists():
    kinds = {"rows": set(KB.rows), "definitions": set(KB.definitions.items),
             "invariants": {i.id for i in KB.invariants}, "caveats": {c.id for c in KB.caveats}}
    assert set(kinds) == set(TARGETS)
    for s in TRACE.statements():
        for kind, name in s.targets():
            assert name in kinds[kind], f"{s.id} names {kind[:-1]} {name}, which does not exist"
        for other in s.set_aside.see if s.set_aside else ():
            assert TRACE.statement(other) is not None, (s.id, other)
    assert trace_findings(KB) == []


def test_counts_add_up_and_the_verify_check_holds():
    for st in TRACE.sources.values():
        c = st.counts()
        assert c["statements"] == len(st.statements) > 0
        assert c["encoded"] + c["set_aside"] + c["open"] == c["statements"] and c["unmapped"] == 0
        assert sum(c["by_reason"].values()) == c["set_aside"]
    res = Verifier(KB).check_traceability()
    assert res.failures == []
    assert res.counts["statements"] == len(TRACE.statements())
    assert res.notes == [s.id for s in TRACE.statements() if s.status == "open"]


def test_reverse_direction_is_informational():
    """Rows of a source no statement of its matrix names are listed (fallbacks, project readings), never failed."""
    lung = {u["row"]: u["statements_elsewhere"] for u in untraced_rows(KB, "ccs-lung-2019")}
    for row_id, elsewhere in lung.items():
        assert row_id in KB.rows
        assert all(TRACE.statement(s).source != "ccs-lung-2019" for s in elsewhere)
    named = {r for s in TRACE.sources["liver-sync-meta"].statements for r in s.rows}
    assert all(u["row"] not in named for u in untraced_rows(KB, "liver-sync-meta"))


def test_citations_of_a_place_without_statement_are_listed_not_failed(tmp_path):
    """A row citing a place of the source where the matrix lists nothing (a misnamed table, say) is shown by
    `kb trace`; `Fig. 1` with footnote `note 3` matches the statement at `Fig. 1, note 3`."""
    assert not [u for u in unlisted_citations(KB, "ccs-lung-2019") if u["cited_by"] == "row lung.route.non_initial"]
    root = _copy(tmp_path)
    path = root / "tables" / "40-cancers-2022-rectal.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count('where: "Table 8, lung row, NCCN column"') == 2
    path.write_text(text.replace('where: "Table 8, lung row, NCCN column"', 'where: "Table 9, lung row"', 1),
                    encoding="utf-8")
    kb = load_knowledge_dir(root)
    unlisted = unlisted_citations(kb, "cancers-2022-rectal")
    assert [u["where"] for u in unlisted] == ["Table 9, lung row"]
    res = Verifier(kb).check_traceability()
    assert res.failures == [] and res.counts["citations_unlisted"] >= 1
    assert source_view(kb, "cancers-2022-rectal")["reverse"]["citations_unlisted"] == 1


def test_the_matrix_is_outside_the_knowledge_version(tmp_path):
    """No answer depends on the matrix: editing it leaves the knowledge base's version as it was."""
    root = _copy(tmp_path)
    path = root / "trace" / "cvir-2019-palliative.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("Option: FOLFIRI.", "Option: FOLFIRI alone."),
                    encoding="utf-8")
    assert load_knowledge_dir(root).version == KB.version


# --- mutations: verify fails --------------------------------------------------------------------------

def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(default_data_dir(), root)
    return root


def _mutate(tmp_path: Path, source: str, edit) -> Path:
    root = _copy(tmp_path)
    path = root / "trace" / f"{source}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return root


def _statement(data: dict, sid: str) -> dict:
    return next(s for sec in data["sections"] for s in sec["statements"] if s["id"] == sid)


def _failures(root: Path) -> list:
    report = verify(load_knowledge_dir(root))
    assert not report.ok
    return [f for f in report.failures if f.check == "traceability"]


def test_verify_fails_on_a_dangling_row_id(tmp_path):
    root = _mutate(tmp_path, "cvir-2019-palliative",
                   lambda d: _statement(d, "CVIR-C05")["rows"].append("palliative.systemic.no_such_row"))
    [f] = _failures(root)
    assert f.subject.startswith("CVIR-C05 (trace/cvir-2019-palliative.yaml:")
    assert "palliative.systemic.no_such_row" in f.message and "does not exist" in f.message


def test_verify_fails_on_a_statement_with_neither_rows_nor_reason(tmp_path):
    def edit(d):
        _statement(d, "LIVER-L13").pop("rows")
    [f] = _failures(_mutate(tmp_path, "liver-sync-meta", edit))
    assert f.subject.startswith("LIVER-L13 (trace/liver-sync-meta.yaml:")
    assert "neither rows" in f.message


def test_verify_fails_on_a_row_that_cites_nothing_of_the_source(tmp_path):
    root = _mutate(tmp_path, "cancers-2022-rectal",
                   lambda d: _statement(d, "RECTAL-R11")["rows"].append("lung.prognosis.age"))
    [f] = _failures(root)
    assert "RECTAL-R11" in f.subject and "cites nothing of cancers-2022-rectal" in f.message


def test_verify_fails_on_a_dangling_see_and_a_missing_matrix(tmp_path):
    root = _mutate(tmp_path, "ccs-lung-2019", lambda d: _statement(d, "LUNG-OV2")["set_aside"]["see"].append(
        "LUNG-NOPE"))
    (root / "trace" / "cancers-2022-rectal.yaml").unlink()
    subjects = {f.subject.split(" ")[0]: f.message for f in _failures(root)}
    assert "'see' names statement LUNG-NOPE" in subjects["LUNG-OV2"]
    assert "has no traceability matrix" in subjects["cancers-2022-rectal"]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: _statement(d, "CVIR-C24")["set_aside"].update(reason="boring"), "unknown reason 'boring'"),
    (lambda d: _statement(d, "CVIR-C01").update(set_aside={"reason": "background", "note": "x"}),
     "either encoded (rows...) or set aside, not both"),
    (lambda d: _statement(d, "CVIR-C02").update(id="CVIR-C01"), "duplicate statement id CVIR-C01"),
    (lambda d: _statement(d, "CVIR-C03").update(rows=[]), "a non-empty list of ids"),
    (lambda d: _statement(d, "CVIR-C24")["set_aside"].pop("note"), "set aside without a note"),
    (lambda d: _statement(d, "CVIR-C04").update(paraphrase=""), "needs 'paraphrase'"),
])
def test_a_malformed_matrix_fails_with_file_and_line(tmp_path, edit, message):
    root = _mutate(tmp_path, "cvir-2019-palliative", edit)
    kb = load_knowledge_dir(root)  # the knowledge base still loads and answers
    with pytest.raises(KnowledgeError) as exc:
        kb.trace  # noqa: B018
    assert any(message in p.message for p in exc.value.problems), [str(p) for p in exc.value.problems]
    assert any(re.match(r"trace/cvir-2019-palliative\.yaml:\d+", p.where) for p in exc.value.problems)
    failures = Verifier(kb).check_traceability().failures  # `mcrc verify` reports it as a failure, no crash
    assert any(message in f.message and f.subject.startswith("trace/cvir-2019-palliative.yaml:") for f in failures)


def test_open_statements_are_counted_not_failed(tmp_path):
    def edit(d):
        st = _statement(d, "CVIR-C20")
        st.pop("rows")
        st["set_aside"] = {"reason": "open", "note": "issue 99: not encoded yet"}
    kb = load_knowledge_dir(_mutate(tmp_path, "cvir-2019-palliative", edit))
    res = Verifier(kb).check_traceability()
    assert res.failures == [] and "CVIR-C20" in res.notes


def test_cli_verify_exits_1_on_a_broken_matrix(tmp_path):
    root = _mutate(tmp_path, "cvir-2019-palliative", lambda d: _statement(d, "CVIR-C05").pop("rows"))
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "verify", "--kb", str(root), "--format", "json"],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    [f] = doc["failures"]
    assert f["check"] == "traceability" and f["subject"].startswith("CVIR-C05 (trace/cvir-2019-palliative.yaml:")


# --- mcrc kb trace ----------------------------------------------------------------------------------

def _mcrc(*args):
    return subprocess.run([sys.executable, "-m", "mcrc.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_cli_kb_trace_text_lists_every_statement_with_counts():
    r = _mcrc("kb", "trace", "ccs-lung-2019")
    assert r.returncode == 0, r.stderr
    c = TRACE.sources["ccs-lung-2019"].counts()
    assert (f"statements {c['statements']} · encoded {c['encoded']} · set aside {c['set_aside']}" in r.stdout
            and f"open {c['open']}" in r.stdout)
    for s in TRACE.sources["ccs-lung-2019"].statements:
        assert re.search(rf"^{re.escape(s.id)}  \[", r.stdout, re.M), s.id
    assert "-> row lung.route.table2_rectal_advanced: " in r.stdout
    assert "set aside (epidemiology): " in r.stdout
    assert ("OPEN: issue " in r.stdout) == (c["open"] > 0)  # an open statement is printed as such
    assert "rows no statement of this matrix names" in r.stdout


@pytest.mark.parametrize("fmt", ["md", "markdown"])
def test_cli_kb_trace_markdown(fmt):
    r = _mcrc("kb", "trace", "liver-sync-meta", "--format", fmt)
    assert r.returncode == 0, r.stderr
    c = TRACE.sources["liver-sync-meta"].counts()
    assert r.stdout.startswith("# Traceability matrix: liver-sync-meta")
    assert f"| {c['statements']} | {c['encoded']} | {c['set_aside']} | {c['open']} | 0 |" in r.stdout
    assert r.stdout.count("| LIVER-L") == c["statements"]
    assert "row liver.primary.symptomatic_first: " in r.stdout


def test_cli_kb_trace_summary_and_json():
    r = _mcrc("kb", "trace", "--format", "md")
    assert r.returncode == 0, r.stderr
    total = len(TRACE.statements())
    assert re.search(rf"^\| all \| \| {total} \| ", r.stdout, re.M)
    for sid in TRACE.sources:
        assert f"| `{sid}` |" in r.stdout
    doc = json.loads(_mcrc("kb", "trace", "cancers-2022-rectal", "-f", "json").stdout)
    assert doc["counts"]["statements"] == len(TRACE.sources["cancers-2022-rectal"].statements)
    assert {"table_rows", "rows_not_named", "named_by_other_sources"} <= set(doc["reverse"])


def test_readme_counts_are_the_command_output():
    r = _mcrc("kb", "trace", "--format", "md")
    assert r.stdout.strip() in (ROOT / "README.md").read_text(encoding="utf-8"), "README counts are stale: paste " \
        "the output of `mcrc kb trace --format md`"


def test_cli_kb_trace_unknown_source():
    r = _mcrc("kb", "trace", "evidence-2025")
    assert r.returncode == 2 and "has no traceability matrix" in r.stderr
    r = _mcrc("kb", "trace", "nope")
    assert r.returncode == 2 and "unknown source 'nope'" in r.stderr


def test_renderers_share_one_view():
    view = source_view(KB, "cvir-2019-palliative")
    text, md = render_trace_text(view), render_trace_markdown(view)
    for s in TRACE.sources["cvir-2019-palliative"].statements:
        assert s.id in text and s.id in md


# --- the web page ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def web(tmp_path_factory):
    from fastapi.testclient import TestClient

    from mcrc.api import Settings, create_app
    from mcrc.store.api import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('trace') / 'web.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("cli", "clinician", actor="adm")
        token = s.create_token("cli", label="tests").token
    with TestClient(create_app(Settings(database_url=url, secret_key="test-secret"))) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303
        yield c


def test_kb_page_links_each_matrix(web):
    text = web.get("/kb").text
    for sid in TRACE.sources:
        assert f'href="/kb/trace/{sid}"' in text
    assert 'href="/kb/trace/evidence-2025"' not in text


@pytest.mark.parametrize("source", ["ccs-lung-2019", "liver-sync-meta", "cvir-2019-palliative",
                                    "cancers-2022-rectal"])
def test_trace_page_shows_each_statement_beside_its_rows(web, source):
    r = web.get(f"/kb/trace/{source}")
    assert r.status_code == 200, r.text[:300]
    text = r.text
    st = TRACE.sources[source]
    c = st.counts()
    assert f'id="count-statements">{c["statements"]}<' in text and f'id="count-encoded">{c["encoded"]}<' in text
    assert f'id="count-set-aside">{c["set_aside"]}<' in text and f'id="count-open">{c["open"]}<' in text
    for s in st.statements:
        block = re.search(rf'<tr id="st-{re.escape(s.id)}".*?</tr>', text, re.S).group(0)
        for row in s.rows:  # each row next to its statement, linking to the row on the knowledge-base page
            assert f'href="/kb#row-{row}"' in block
        if s.set_aside:
            assert "set aside: " in block or "open" in block
    # no inline script or style (the CSP forbids them)
    assert not re.search(r"<script(?![^>]*\bsrc=)", text) and " style=" not in text and "<style" not in text


def test_trace_page_for_a_source_without_matrix_is_a_friendly_404(web):
    r = web.get("/kb/trace/evidence-2025")
    assert r.status_code == 404 and "There is no traceability matrix" in r.text and "Traceback" not in r.text


def test_a_clinician_reviews_a_row_beside_its_statement(web):
    """The matrix page is where a clinician reads a statement next to its rows: each row shows its review status
    and, for a clinician, the form; a mark made there returns to the statement and shows at once."""
    text = web.get("/kb/trace/ccs-lung-2019").text
    block = re.search(r'<tr id="st-LUNG-MC5".*?</tr>', text, re.S).group(0)
    assert 'data-review="not_reviewed"' in block and 'data-review-form="lung.route.metachronous_resectable"' in block
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)
    r = web.post("/kb/reviews", data={"csrf_token": csrf, "row": "lung.route.metachronous_resectable",
                                      "status": "reviewed", "next": "/kb/trace/ccs-lung-2019#st-LUNG-MC5"},
                 follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/kb/trace/ccs-lung-2019#st-LUNG-MC5"
    block = re.search(r'<tr id="st-LUNG-MC5".*?</tr>', web.get("/kb/trace/ccs-lung-2019").text, re.S).group(0)
    assert 'data-review="reviewed"' in block and "Clinically reviewed" in block
