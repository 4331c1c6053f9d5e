"""Issue 18 items 3-4: the current standard (an approved newer option that differs from the guideline answer) and
the guideline currency (each guideline source's edition, year and newer editions known), in the engine, every
renderer, `mcrc kb sources` and `mcrc verify` (decision record 0033)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

import mcrc
from mcrc.api import Settings, create_app
from mcrc.api.cdshooks import Links, build_cards
from mcrc.engine.current import FULL_APPROVALS
from mcrc.errors import KnowledgeError
from mcrc.facts import derive_facts
from mcrc.fhir.write import careplan
from mcrc.knowledge import load_knowledge_dir
from mcrc.logic import Tri
from mcrc.patient import parse_patient
from mcrc.render import render_json, render_markdown, render_text
from mcrc.store.api import Store
from mcrc.verify import verify
from tests.kbcopy import kb_copy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
KB = mcrc.load_knowledge()
MSI = "47-evidence-msi-h-first-line-immunotherapy"
EVIDENCE_TABLE = "tables/50-evidence-2025.yaml"


def example(stem: str) -> dict:
    return json.loads((ROOT / "examples" / f"{stem}.json").read_text(encoding="utf-8"))


def assess(stem: str, **kw) -> mcrc.Assessment:
    return mcrc.assess(example(stem), **kw)


# ---- engine --------------------------------------------------------------------------------------------------
def test_msi_first_line_shows_both_approved_immunotherapies_first_beside_the_guideline_answer():
    a = assess(MSI)
    assert [c.code for c in a.current_standard] == ["keynote_177", "checkmate_8hw"]
    ks = a.current_standard[0]
    assert (ks.trial, ks.option, ks.regimens) == ("KEYNOTE-177", "Pembrolizumab", ["PEMBROLIZUMAB"])
    assert (ks.approval.agency, ks.approval.kind, ks.approval.date) == ("FDA", "regular", "2020-06")
    assert (ks.source, ks.item) == ("evidence-2025", 1)
    assert ks.guideline.says == next(e.differs for e in a.evidence if e.code == "keynote_177")
    assert [(s.source, s.year) for s in ks.guideline.sources] == [("cvir-2019-palliative", 2019)]
    assert ks.guideline.regimens == [r.code for r in a.regimens]
    # beside, never instead: the trial stays under `evidence`, the guideline regimens are the hidden answer's
    assert {"keynote_177", "checkmate_8hw"} <= {e.code for e in a.evidence}
    hidden = assess(MSI, show_evidence=False)
    assert [r.code for r in a.regimens] == [r.code for r in hidden.regimens]
    assert not a.codes("regimens") & {"PEMBROLIZUMAB", "NIVOLUMAB_IPILIMUMAB"}
    keys = list(json.loads(render_json(a)))
    assert keys.index("current_standard") < keys.index("goal")  # the JSON opens with it


@pytest.mark.parametrize(("stem", "shown", "not_shown"), [
    # CheckMate 8HW after the first line agrees with the CVIR table (no `differs`): newer evidence only
    ("36-palliative-second-line-after-folfiri-dmmr", {"beacon_crc"}, {"checkmate_8hw"}),
    # larotrectinib's approval is accelerated, entrectinib's regular: only entrectinib comes first
    ("52-evidence-ntrk-fusion-after-immunotherapy", {"entrectinib_ntrk"}, {"larotrectinib_ntrk"}),
    # MOUNTAINEER and DESTINY-CRC02 differ but are accelerated approvals
    ("50-evidence-her2-positive-refractory", {"sunlight"}, {"mountaineer", "destiny_crc02"}),
])
def test_only_a_full_approval_that_differs_comes_first(stem, shown, not_shown):
    a = assess(stem)
    codes = {c.code for c in a.current_standard}
    assert shown <= codes and not codes & not_shown
    assert not_shown <= {e.code for e in a.evidence}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_current_standard_is_exactly_the_full_approvals_that_differ_inside_their_indication(path):
    patient = parse_patient(json.loads(path.read_text()))
    a = mcrc.assess(patient)
    values = derive_facts(patient, KB.definitions).values
    expected = [e.code for e in a.evidence
                if e.differs and e.approval is not None and e.approval.kind in FULL_APPROVALS
                and e.code in KB.indications and KB.indications[e.code].check(values) is Tri.TRUE]
    assert [c.code for c in a.current_standard] == expected
    for cs in a.current_standard:
        assert cs.guideline.sources, "the guideline's year is named"
        assert all(KB.sources[s.source]["kind"] == "guideline" for s in cs.guideline.sources)


def test_examples_show_a_current_standard_somewhere():
    assert sum(bool(mcrc.assess(json.loads(p.read_text())).current_standard) for p in EXAMPLES) >= 10


# ---- show / hide ---------------------------------------------------------------------------------------------
EVIDENCE_SOURCES = {sid for sid, s in KB.sources.items() if s["kind"] == "evidence"}
EVIDENCE_ROWS = {r.id for t in KB.tables if t.evidence for r in t.rows}
EVIDENCE_TABLES = {t.id for t in KB.tables if t.evidence}
ITEM_SECTIONS = ("first_steps", "local_treatment", "regimens", "warnings", "tests", "workup", "prognosis",
                 "followup", "considerations", "referrals")


def without_evidence(a: mcrc.Assessment) -> str:
    """The Assessment's JSON minus what newer evidence contributes: the evidence and current-standard sections, the
    evidence rows (in items, rationale, reviews, positions, possible rows, unknown facts, trace) and the evidence
    sources' citations and provenance entries. Everything else, `currency` included, is kept as rendered; the
    provisional answer (decision record 0034) is stripped the same way."""
    return json.dumps(_strip_evidence(json.loads(render_json(a))), indent=2, ensure_ascii=False)


def _strip_evidence(data: dict) -> dict:
    if data.get("provisional"):
        data["provisional"]["answer"] = _strip_evidence(data["provisional"]["answer"])
    for key in ("evidence", "current_standard"):
        data.pop(key)
    data["provenance"].pop("newer_evidence")
    data["provenance"]["sources"] = [s for s in data["provenance"]["sources"] if s not in EVIDENCE_SOURCES]

    def strip(item: dict) -> dict | None:
        rows = [r for r in item["rows"] if r not in EVIDENCE_ROWS]
        if not rows:
            return None
        cites = [c for c in item["citations"] if c["source"] not in EVIDENCE_SOURCES]
        return {**item, "rows": rows, "citations": cites}

    for key in ITEM_SECTIONS:
        data[key] = [x for x in map(strip, data[key]) if x is not None]
    data["rationale"] = [r for r in data["rationale"] if r["row"] not in EVIDENCE_ROWS]
    data["reviews"] = {k: v for k, v in data["reviews"].items() if k not in EVIDENCE_ROWS}
    data["possible"] = [p for p in data["possible"] if p["row"] not in EVIDENCE_ROWS]
    unknown = []
    for u in data["unknown_facts"]:
        rows = [r for r in u["rows"] if r not in EVIDENCE_ROWS]
        if rows:
            unknown.append({**u, "rows": rows})
    data["unknown_facts"] = unknown
    positions = []
    for t in data["positions"]:
        views = [v for v in t["views"] if v["row"] not in EVIDENCE_ROWS]
        if views:
            voices, stances = {v["voice"] for v in views}, {v["stance"] for v in views}
            agreement = "single" if len(voices) < 2 else ("agree" if len(stances) == 1 else "differ")
            positions.append({**t, "views": views, "agreement": agreement})
    data["positions"] = positions
    data["trace"] = [t for t in data["trace"] if t["table"] not in EVIDENCE_TABLES]
    return data


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_hiding_newer_evidence_hides_the_current_standard_and_nothing_of_the_guidelines(path):
    patient = json.loads(path.read_text())
    shown, hidden = mcrc.assess(patient, show_evidence=True), mcrc.assess(patient, show_evidence=False)
    assert hidden.current_standard == [] and hidden.evidence == []
    assert without_evidence(shown) == without_evidence(hidden)  # byte for byte, currency included
    assert shown.currency == hidden.currency


# ---- currency ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_currency_lists_every_guideline_source_the_answer_rests_on(path):
    a = mcrc.assess(json.loads(path.read_text()), show_evidence=False)
    guideline = [s for s in a.provenance.sources if KB.sources[s]["kind"] == "guideline"]
    assert [c.source for c in a.currency] == guideline
    for c in a.currency:
        src = KB.sources[c.source]
        assert (c.edition, c.year) == (src["edition"], src["year"])
        assert [n.name for n in c.newer] == [n["name"] for n in src.get("newer_editions") or []]
        assert all(cite.source == "evidence-2026" for n in c.newer for cite in n.citations)


def test_every_guideline_source_has_edition_year_and_the_newer_editions_of_the_currency_table():
    for sid, src in KB.sources.items():
        if src["kind"] in ("guideline", "evidence"):
            assert src["edition"] and "year" in src, sid
    nccn = {sid for sid, src in KB.sources.items() for n in src.get("newer_editions") or []
            if n["name"].startswith("NCCN") and "1.2026" in n["name"]}
    assert nccn == {"cancers-2022-rectal", "cvir-2019-palliative"}
    assert KB.sources["liver-sync-meta"]["year"] is None  # the summary gives none: never guessed


# ---- renderers -----------------------------------------------------------------------------------------------
def test_text_and_markdown_open_with_the_current_standard_and_close_with_the_currency():
    a = assess(MSI)
    md = render_markdown(a)
    sections = [line for line in md.splitlines() if line.startswith("## ")]
    # the board summary first (decision record 0037), then the current standard ahead of the guideline answer
    assert sections[0] == "## Board summary"
    assert sections[1].startswith("## Current standard") and sections[2] == "## Goal"
    assert "Pembrolizumab (KEYNOTE-177): FDA regular approval, 2020-06" in md
    assert "the guideline answer (cvir-2019-palliative, 2019) differs" in md
    assert "NCCN Colon / Rectal 1.2026" in md and "Check the current text." in md
    text = render_text(a, width=200)
    section = text.index("Current standard: an approved newer option")
    assert text.index("Board summary") < section < text.index("Goal", section) < text.index("Guideline currency")
    assert "FDA regular approval, 2020-06" in text


def test_no_current_standard_section_without_one():
    a = assess("01-sync-low-rectal-resectable")
    assert a.current_standard == [] and a.currency
    md = render_markdown(a)
    assert "Current standard" not in md
    assert ("cancers-2022-rectal (2022): JSCCR: no English edition later than 2019 was found. Newer editions exist: "
            "NCCN Colon / Rectal 1.2026; ESMO mCRC living guideline (2023 update). Check the current text.") in md


def test_cds_card_for_the_current_standard_comes_first_with_indicator_warning():
    a = assess(MSI)
    cards = build_cards(a, Links("https://mcrc.example.org"))
    first, main = cards[0], cards[1]
    assert first["indicator"] == "warning" and first["summary"].startswith("2 approved newer options differ")
    assert len(first["summary"]) < 140
    assert "KEYNOTE-177" in first["detail"] and "cvir-2019-palliative, 2019" in first["detail"]
    assert "not instead of it" in first["detail"]
    assert first["source"]["label"] == "mcrc: newer evidence (evidence-2025)"
    assert first["source"]["url"] == "https://mcrc.example.org/kb#row-evidence.msi.first_line"
    assert "**Guideline currency**" in main["detail"] and "NCCN Colon / Rectal 1.2026" in main["detail"]
    # without the current standard (evidence hidden) the guideline card is the first and unchanged in kind
    hidden = build_cards(assess(MSI, show_evidence=False), Links("https://mcrc.example.org"))
    assert hidden[0]["summary"] == main["summary"] and hidden[0]["indicator"] == main["indicator"]


def test_fhir_careplan_notes_the_current_standard_first_and_the_currency_last():
    a = assess(MSI)
    plan = careplan(a, "Patient/47")
    notes = [n["text"] for n in plan["note"]]
    assert notes[0].startswith("Current standard (newer evidence, beside the guideline answer, not in it): "
                               "Pembrolizumab (KEYNOTE-177): FDA regular approval, 2020-06.")
    assert "cvir-2019-palliative, 2019" in notes[0]
    assert notes[1].startswith("Current standard") and "CheckMate 8HW" in notes[1]
    currency = [n for n in notes if n.startswith("Guideline currency: ")]
    assert len(currency) == len(a.currency) and notes[-len(currency):] == currency
    # never an activity: the activities are the guideline strategies', as with the evidence hidden
    hidden = careplan(assess(MSI, show_evidence=False), "Patient/47")
    assert plan["activity"] == hidden["activity"]


@contextmanager
def signed_in_web(tmp_path, data: dict):
    """A web app on a fresh store holding one assessed case of `data`, a coordinator signed in."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("coo", "coordinator", actor="adm")
        token = s.create_token("coo", label="tests").token
        case = s.add_case(data, "coo")
        s.assess(case.id, "coo")
    with TestClient(create_app(Settings(database_url=url, secret_key="test-secret"))) as c:
        import re

        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303
        yield SimpleNamespace(client=c, case=case.id, url=url)


@pytest.fixture
def web(tmp_path):
    with signed_in_web(tmp_path, example(MSI)) as w:
        yield w


def test_web_page_opens_with_the_current_standard_and_shows_the_currency(web):
    html = web.client.get(f"/cases/{web.case}").text
    assert 'id="current-standard"' in html and 'data-approval="regular"' in html
    assert html.index('id="current-standard"') < html.index('class="card scope') < html.index('id="goal"')
    assert "Pembrolizumab (KEYNOTE-177): FDA regular approval, 2020-06" in html
    assert 'id="currency"' in html and "NCCN Colon / Rectal 1.2026" in html
    assert '<a href="#current-standard">Current standard</a>' in html


def test_kb_page_lists_each_source_with_edition_year_and_newer_editions(web):
    html = web.client.get("/kb").text
    assert "2019 edition, 2019" in html and "year not stated" in html
    assert "NCCN Colon / Rectal 1.2026 (2026)" in html and "CSCO colorectal 2025" in html


def test_pdf_text_has_the_current_standard_first_and_the_currency(web):
    from weasyprint import HTML

    from mcrc.web.pdf import BASE_URL, AppAssetFetcher

    assert web.client.get(f"/cases/{web.case}/pdf").status_code == 200
    app_web = web.client.app.state.web
    with Store(web.url) as s:
        a = mcrc.Assessment.model_validate(s.assessments(web.case, "coo")[-1].assessment)
    html = app_web.env.get_template("pdf.html").render(
        case=SimpleNamespace(id=web.case, label="x", version=1), stale=False, decisions=[],
        record=SimpleNamespace(created_at="2026-01-01T00:00", kb_version="k", engine_version="e"),
        user=SimpleNamespace(name="coo"), generated=dt.datetime(2026, 1, 1), **app_web.assessment_context(a, pdf=True))
    doc = HTML(string=html, base_url=BASE_URL, url_fetcher=AppAssetFetcher()).render()

    def words(box) -> list[str]:
        own = [box.text] if type(box).__name__ == "TextBox" else []
        return own + [w for child in getattr(box, "children", []) for w in words(child)]

    text = " ".join(w for page in doc.pages for w in words(page._page_box))
    assert "Current standard" in text and "KEYNOTE-177" in text and "FDA regular approval, 2020-06" in text
    assert text.index("Current standard") < text.index("Scope")
    assert "Guideline currency" in text and "NCCN Colon / Rectal 1.2026" in text


def test_api_assess_carries_the_current_standard_and_hides_it_with_the_evidence(tmp_path):
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store(url) as s:
        s.upgrade()
    with TestClient(create_app(Settings(database_url=url, open_assess=True))) as c:
        shown = c.post("/api/v1/assess", json=example(MSI)).json()
        hidden = c.post("/api/v1/assess?evidence=false", json=example(MSI)).json()
    assert [x["code"] for x in shown["current_standard"]] == ["keynote_177", "checkmate_8hw"]
    assert hidden["current_standard"] == [] and hidden["currency"] == shown["currency"]


# ---- command line --------------------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mcrc.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


def test_cli_kb_sources_prints_editions_years_and_newer_editions():
    r = cli("kb", "sources")
    assert r.returncode == 0, r.stderr
    assert "cvir-2019-palliative [guideline]" in r.stdout and "year: 2019" in r.stdout
    assert "newer edition: NCCN Colon / Rectal 1.2026 (2026) [evidence-2026 Guideline currency]" in r.stdout
    assert "year: year not stated" in r.stdout  # liver-sync-meta
    doc = json.loads(cli("kb", "sources", "-f", "json").stdout)
    by_id = {s["source"]: s for s in doc["sources"]}
    assert by_id["cancers-2022-rectal"]["year"] == 2022
    assert [e["name"] for e in by_id["cancers-2022-rectal"]["newer_editions"]] == [
        "NCCN Colon / Rectal 1.2026", "ESMO mCRC living guideline (2023 update)"]
    md = cli("kb", "sources", "-f", "md").stdout
    assert md.startswith("| source | kind | edition | year |") and "`ccs-lung-2019`" in md


def test_cli_recommend_opens_with_the_current_standard():
    r = cli("recommend", str(ROOT / "examples" / f"{MSI}.json"), "-f", "md")
    assert r.returncode == 0, r.stderr
    after = r.stdout.split("\n## ")
    assert after[1].startswith("Board summary") and after[2].startswith("Current standard")
    r = cli("recommend", str(ROOT / "examples" / f"{MSI}.json"), "-f", "md", "--no-evidence")
    assert "Current standard" not in r.stdout and "Guideline currency" in r.stdout


# ---- knowledge: the loader checks the new data ---------------------------------------------------------------
def test_vocabulary_keeps_the_approval_in_meta():
    term = KB.vocabulary.get("trials", "keynote_177")
    assert term.meta["approval"] == {"agency": "FDA", "kind": "regular", "date": "2020-06",
                                     "indication": term.meta["approval"]["indication"]}
    assert KB.vocabulary.get("trials", "avex").meta["seen"] == ["abstract"]
    assert KB.vocabulary.get("trials", "breakwater").meta["updated_by"] == {"source": "evidence-2026", "item": 1}


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("vocabulary-evidence.yaml", 'kind: regular, date: "2020-06"', 'kind: conditional, date: "2020-06"',
     "approval.kind must be one of"),
    ("vocabulary-evidence.yaml", 'kind: regular, date: "2020-06"', 'kind: regular, date: "June 2020"',
     "must be a date YYYY-MM-DD or a month YYYY-MM"),
    ("vocabulary.yaml", "\nregimens:\n", "\nregimens:\n  SEEN_ON_A_REGIMEN: {label: x, drugs: [], seen: [press]}\n",
     "belong to trials"),
    ("sources.yaml", "    year: 2022\n", "", "states its year"),
    ("sources.yaml", "    edition: 2019 edition\n", "", "states its edition"),
    ("sources.yaml", "    year: 2022\n", "    year: twenty-two\n", "is not a year"),
    ("sources.yaml", "        known: An abridged version is published; its content was not read.\n        cite: "
                     "{source: evidence-2026, where: Guideline currency}",
     "        known: An abridged version is published; its content was not read.\n        cite: "
     "{source: ccs-lung-2019, where: Table 4}", "cited to a newer-evidence source"),
    ("sources.yaml", "        relation: later_guideline\n        known: An abridged",
     "        relation: sequel\n        known: An abridged", "unknown relation"),
    ("sources.yaml", "    kind: project\n", "    kind: project\n    year: 2026\n    newer_editions: []\n",
     "only a guideline source lists newer editions"),
    ("indications.yaml", "  sunlight:\n", "  no_such_trial:\n    when: {metastatic: true}\n    cite: {source: "
                                          "evidence-2025, where: item 12}\n  sunlight:\n", "unknown trials code"),
    ("indications.yaml", "    when: {metastatic: true, ntrk_fusion: true}", "    when: {metastatic: true, ntrk: true}",
     "ntrk"),
])
def test_loader_refuses_malformed_editions_approvals_and_indications(tmp_path, file, old, new, message):
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, [(file, old, new)]))
    assert message in str(exc.value)


# ---- verify --------------------------------------------------------------------------------------------------
def test_verify_proves_the_current_standard_stays_inside_every_indication():
    result = next(r for r in verify(KB).results if r.name == "current standard")
    assert result.failures == []
    approved = [code for code, t in KB.vocabulary.terms["trials"].items()
                if t.meta["approval"]["kind"] in FULL_APPROVALS
                and any(o.code == code and o.differs for r in KB.rows.values() for o in r.outputs.get("evidence", ()))]
    assert result.counts["approved_items_shown_first"] == len(approved) >= 9
    assert set(approved) <= set(KB.indications)


def test_verify_catches_a_row_wider_than_the_approved_population(tmp_path):
    """Planted defect: the KEYNOTE-177 row loses its first-line condition, so it would show pembrolizumab as the
    current standard in later lines, outside the (first-line) approval."""
    first_line = ("          mmr_status: dmmr_msi_h\n          lines_received: 0\n"
                  "          checkpoint_inhibitor_exposed: false\n          metastases_unresectable: true\n")
    root = kb_copy(tmp_path, [(EVIDENCE_TABLE, first_line, first_line.replace("          lines_received: 0\n", ""))])
    kb = load_knowledge_dir(root)
    failures = [f for f in verify(kb).failures if f.check == "current standard"]
    assert [f.subject for f in failures] == ["evidence.msi.first_line -> keynote_177"]
    failure = failures[0]
    assert failure.facts["mmr_status"] == "dmmr_msi_h" and failure.facts["lines_received"] >= 1
    assert failure.patient is not None and not failure.not_reproduced
    # the counterexample patient: the widened row shows pembrolizumab, the run-time gate keeps it out of first place
    a = mcrc.assess(parse_patient(failure.patient), kb=kb)
    assert "keynote_177" in {e.code for e in a.evidence}
    assert "keynote_177" not in {c.code for c in a.current_standard}


def test_verify_catches_a_full_approval_without_an_indication(tmp_path):
    """Planted defect: MOUNTAINEER's approval becomes regular, but indications.yaml gives no population for it."""
    anchor = 'kind: accelerated, date: "2023-01"'
    root = kb_copy(tmp_path, [("vocabulary-evidence.yaml", anchor, anchor.replace("accelerated", "regular"))])
    failures = [f for f in verify(load_knowledge_dir(root)).failures if f.check == "current standard"]
    assert [f.subject for f in failures] == ["mountaineer"]
    assert "never be shown as the current standard" in failures[0].message


def test_an_indication_waits_for_a_full_approval(tmp_path):
    """An indication for an accelerated approval (MOUNTAINEER) changes nothing; made regular, the item comes first for
    the patients inside it, and the verifier holds either way."""
    indication = ("  mountaineer:\n    when: {metastatic: true, her2: positive, ras: wild_type, "
                  "oxaliplatin_failed: true, irinotecan_failed: true}\n"
                  "    cite: {source: evidence-2025, where: item 7}\n")
    waiting = ("indications.yaml", "indications:\n", "indications:\n" + indication)
    anchor = 'kind: accelerated, date: "2023-01"'
    approved = ("vocabulary-evidence.yaml", anchor, anchor.replace("accelerated", "regular"))
    patient = example("50-evidence-her2-positive-refractory")
    for edits, shown in (([waiting], False), ([waiting, approved], True)):
        kb = load_knowledge_dir(kb_copy(tmp_path / str(shown), edits))
        assert not [f for f in verify(kb).failures if f.check == "current standard"]
        assert ("mountaineer" in {c.code for c in mcrc.assess(patient, kb=kb).current_standard}) is shown


def test_breakwater_traditional_approval_comes_first_for_untreated_braf_v600e():
    """evidence-2026 item 1: the accelerated approval of December 2024 became a traditional one on 2026-02-24."""
    cs = next(c for c in assess("48-evidence-braf-v600e-first-line").current_standard if c.code == "breakwater")
    assert (cs.approval.kind, cs.approval.date, cs.source, cs.item) == ("traditional", "2026-02-24", "evidence-2025", 3)
    assert {"source": "evidence-2026", "where": "item 1"} in [{"source": c.source, "where": c.where}
                                                               for c in cs.citations]
    folfiri = assess("73-evidence-braf-v600e-early-relapse-folfiri-backbone").current_standard
    assert [(c.code, c.source, c.item) for c in folfiri] == [("breakwater_folfiri", "evidence-2026", 1)]


def _bleeding(stem: str = MSI) -> dict:
    data = example(stem)
    data["primary"]["emergency"] = "bleeding"
    return data


def test_an_emergency_leads_even_before_the_current_standard():
    """A bleeding primary is dealt with before anything else (DESIGN's emergency-first rule): its first steps
    open the text and Markdown, and its critical card comes before the current-standard card, which stays."""
    a = mcrc.assess(_bleeding())
    assert a.current_standard and [i.code for i in a.first_steps][:1] == ["emergency_resection"]
    for out in (render_markdown(a), render_text(a, width=200)):
        assert out.index("First, before anything else") < out.index("Current standard")
    cards = build_cards(a, Links("https://mcrc.example.org"))
    assert cards[0]["indicator"] == "critical"
    assert any(c["indicator"] == "warning" and "KEYNOTE-177" in c["summary"] + c["detail"] for c in cards[1:])


def test_web_page_puts_the_emergency_above_the_current_standard(tmp_path):
    with signed_in_web(tmp_path, _bleeding()) as w:
        html = w.client.get(f"/cases/{w.case}").text
    assert html.index("First, before anything else") < html.index('id="current-standard"')
    assert html.count("First, before anything else") == 1
