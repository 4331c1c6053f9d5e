"""The SVG pictures: the flowchart marks exactly the rows the engine fired / found possible, and the
timeline draws known durations to scale and never invents one."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import mcrc
from mcrc.engine.assessment import Phase, StepOut, StrategyOut
from mcrc.render.flowchart import STYLE, TRACE_PAGE_HEIGHT, decision_path_html, flowchart_svg, flowchart_svgs
from mcrc.render.timeline import timeline_svg

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NS = {"svg": "http://www.w3.org/2000/svg"}
S = "{http://www.w3.org/2000/svg}"


def _assess(name: str):
    return mcrc.assess(json.loads((EXAMPLES / name).read_text(encoding="utf-8")))


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{S}svg"
    return root


def _accessible(root: ET.Element) -> None:
    assert root.get("role") == "img"
    ids = root.get("aria-labelledby", "").split()
    assert len(ids) == 2
    for ident, tag in zip(ids, ("title", "desc"), strict=True):
        el = root.find(f"svg:{tag}", NS)
        assert el is not None and el.get("id") == ident and (el.text or "").strip()


def _rows(root: ET.Element, result: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{S}g") if "row" in (g.get("class") or "").split() and g.get("data-result") == result]


@pytest.mark.parametrize("name", ["01-sync-low-rectal-resectable.json", "16-referral-many-unknowns.json",
                                  "44-rectal-resectable-liver.json",
                                  "53-evidence-anti-egfr-rechallenge-ctdna-clear.json"])
def test_flowchart_highlights_exactly_the_fired_and_possible_rows(name):
    a = _assess(name)
    root = _parse(flowchart_svg(a))
    _accessible(root)
    fired = _rows(root, "fired")
    assert [g.get("data-row") for g in fired] == a.fired_rows()
    assert {g.get("data-row") for g in _rows(root, "possible")} == {p.row for p in a.possible}
    for g in fired:
        rect = g.find("svg:rect", NS)
        assert "fired" in g.get("class").split() and rect.get("fill") == STYLE["fired"][0]
    for g in _rows(root, "possible"):
        assert g.find("svg:rect", NS).get("stroke-dasharray")  # marked differently from fired rows
    for g in _rows(root, "not_fired"):
        assert g.find("svg:rect", NS).get("fill") == STYLE["not-fired"][0]
    # every row of every applying table is drawn, in the trace's order; skipped tables are collapsed
    tables = [g for g in root.iter(f"{S}g") if "table" in (g.get("class") or "").split()]
    assert [t.get("data-table") for t in tables] == [t.table for t in a.trace]
    for drawn, t in zip(tables, a.trace, strict=True):
        rows = [g.get("data-row") for g in drawn.iter(f"{S}g") if g.get("data-row")]
        if t.applies == "false":
            assert "skipped" in drawn.get("class").split() and rows == []
        else:
            assert rows == [r.row for r in t.rows]
    # every drawn row links to its knowledge-base entry
    links = [el.get("href") for el in root.iter(f"{S}a")]
    assert len(links) == sum(len(t.rows) for t in a.trace if t.applies != "false")
    assert all(h.startswith("/kb#row-") for h in links)


def test_flowchart_of_a_patient_with_unknowns_shows_possible_rows():
    a = _assess("16-referral-many-unknowns.json")
    assert a.possible, "the example must have possible rows for this test to mean anything"
    root = _parse(flowchart_svg(a))
    assert len(_rows(root, "possible")) == len(a.possible)
    desc = root.find("svg:desc", NS).text
    assert f"{len(a.possible)} possible" in desc


def _phases(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{S}g") if "phase" in (g.get("class") or "").split()]


def test_timeline_draws_known_durations_to_scale():
    a = _assess("17-liver-only-three-resectable.json")
    s = a.strategies[0]
    root = _parse(timeline_svg(s, 1))
    _accessible(root)
    assert root.get("data-strategy") == s.id
    phases = _phases(root)
    assert [g.get("data-code") for g in phases] == [p.code for p in s.timeline]
    per_month = set()
    xs = []
    for g, p in zip(phases, s.timeline, strict=True):
        if p.duration == "event":
            assert g.find("svg:path", NS) is not None and g.find("svg:rect", NS) is None
        else:
            bar = g.find("svg:rect", NS)
            xs.append(float(bar.get("x")))
            if p.end_month is not None and p.start_month is not None:
                per_month.add(round(float(bar.get("width")) / (p.end_month - p.start_month), 3))
    assert len(per_month) == 1, "fixed phases share one scale"
    assert xs == sorted(xs), "phases run left to right in order"


def test_timeline_never_invents_a_duration():
    steps = [StepOut(code="systemic", label="Systemic therapy", action_class="systemic"),
             StepOut(code="surgery", label="Resection", action_class="local_liver"),
             StepOut(code="adjuvant", label="Adjuvant <chemo> & more", action_class="perioperative", months=3)]
    timeline = [Phase(code="systemic", label="Systemic therapy", kind="systemic", start_month=0.0, end_month=None,
                      duration="unknown"),
                Phase(code="surgery", label="Resection", kind="local_liver", start_month=None, end_month=None,
                      duration="event"),
                Phase(code="adjuvant", label="Adjuvant <chemo> & more", kind="perioperative", start_month=None,
                      end_month=None, duration="fixed")]
    s = StrategyOut(id="x#1", label="Label with <script>alert(1)</script>", steps=steps, row="x",
                    citations=[], timeline=timeline)
    svg = timeline_svg(s, 2)
    root = _parse(svg)  # well-formed despite the markup in the labels
    assert not list(root.iter(f"{S}script")) and "<script>" not in svg
    assert "Label with <script>" in root.find("svg:title", NS).text
    first, event, third = _phases(root)
    assert "unknown" in first.get("class") and first.find("svg:rect", NS).get("stroke-dasharray")
    assert any("duration not given" in (t.text or "") for t in first.iter(f"{S}text"))
    assert "start-unknown" in event.get("class").split() and event.get("data-start") == "?"
    assert "start-unknown" in third.get("class").split() and third.get("data-end") == "?"
    text = "".join(root.itertext())
    assert "give no durations" in text and "months from the start" not in text  # no month axis to mislead


def test_compact_flowchart_keeps_fired_and_possible_rows_and_counts_the_rest():
    a = _assess("44-rectal-resectable-liver.json")
    root = _parse(flowchart_svg(a, compact=True))
    _accessible(root)
    assert [g.get("data-row") for g in _rows(root, "fired")] == a.fired_rows()
    assert {g.get("data-row") for g in _rows(root, "possible")} == {p.row for p in a.possible}
    assert _rows(root, "not_fired") == []
    hidden = sum(int(g.get("data-hidden")) for g in root.iter(f"{S}g") if g.get("data-hidden"))
    applied = [t for t in a.trace if t.applies != "false"]
    assert hidden == sum(1 for t in applied for r in t.rows if r.result == "not_fired") > 0


# ---- the decision path (issue 20 item 3, decision record 0039) ----------------------------------------------------

ALL_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.json"))


class _Path(HTMLParser):
    """The decision path's steps, rows, open branches and visible text (outside tags and attributes)."""

    def __init__(self):
        super().__init__()
        self.steps: list[dict] = []
        self.rows: list[dict] = []
        self.quiet: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []
        self._row: dict | None = None
        self._edge = False

    def handle_starttag(self, tag, attrs):
        at = dict(attrs)
        self.tags.append(tag)
        cls = (at.get("class") or "").split()
        if "path-step" in cls:
            self.steps.append({"table": at["data-table"], "title": ""})
        if "path-table-title" in cls:
            self._title = True
        if "path-row" in cls:
            self._row = {"row": at["data-row"], "result": at["data-result"], "edge": "", "out": ""}
            self.rows.append(self._row)
        if "path-edge" in cls and self._row is not None:
            self._edge = True
        if "path-out" in cls and self._row is not None:
            self._row["href"] = at.get("href")
            self._edge = False
        if "path-quiet-table" in cls:
            self.quiet.append(at["data-table"])

    def handle_endtag(self, tag):
        if tag == "p":
            self._edge = False
        if tag == "span" and getattr(self, "_title", False):
            self._title = False
        if tag == "li" and self._row is not None and self._row.get("out"):
            self._row = None

    def handle_data(self, data):
        self.text.append(data)
        if getattr(self, "_title", False):
            self.steps[-1]["title"] += data
        elif self._row is not None:
            self._row["edge" if self._edge else "out"] += data


def _path(html: str) -> _Path:
    p = _Path()
    p.feed(html)
    return p


KB = mcrc.load_knowledge()


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_decision_path_is_the_tables_that_applied_and_the_rows_that_fired_in_words(name):
    """Every example: the path's steps are the tables that applied with a row fired or possible, in evaluation
    order, titled in words; its fired rows are exactly the engine's, in order, each with its title and the patient's
    values; every possible row is an open branch; every other table that applied is named; no row id or table id
    is visible text (ids are attributes and links only)."""
    a = _assess(name)
    p = _path(decision_path_html(a, KB))
    applied = [t for t in a.trace if t.applies != "false"]
    on_path = [t for t in applied if any(r.result != "not_fired" for r in t.rows)]
    assert [s["table"] for s in p.steps] == [t.table for t in on_path]
    assert [s["title"] for s in p.steps] == [t.title for t in on_path]
    assert p.quiet == [t.table for t in applied if t not in on_path]
    fired = [r for r in p.rows if r["result"] == "fired"]
    assert [r["row"] for r in fired] == a.fired_rows()
    assert {r["row"] for r in p.rows if r["result"] == "possible"} == {x.row for x in a.possible}
    for r in p.rows:
        assert " ".join(r["out"].split()).endswith(KB.rows[r["row"]].title)
        assert r["href"] == f"/kb#row-{r['row']}"
        assert r["edge"].strip()
    visible = " ".join(p.text)
    for t in applied:
        assert t.title in visible
    ids = {r.row for t in a.trace for r in t.rows} | {t.table for t in a.trace if "." in t.table}
    assert not [i for i in ids if re.search(rf"(?<![\w.]){re.escape(i)}(?![\w.])", visible)], "ids shown as text"


def test_decision_path_edges_carry_the_patients_values():
    """A left-sided RAS wild-type first line: the edge into the cetuximab row names those values in words."""
    a = _assess("10-sync-lung-unresectable-liver-resectable.json")
    p = _path(decision_path_html(a, KB))
    row = next(r for r in p.rows if r["row"] == "palliative.systemic.first_line_left_ras_wild_type")
    edge = " ".join(row["edge"].split())
    assert a.facts["ras"] == "wild_type" and a.facts["sidedness"] == "left"
    assert "RAS status (KRAS and NRAS): wild-type" in edge and "Side of the primary: left" in edge
    assert "ras" not in edge.split() and "wild_type" not in edge  # words, not codes
    # a fact the row allows to be unknown says so, never a value it does not have
    assert a.facts.get("ctdna_clear") is None and "ctDNA free of RAS, BRAF and EGFR resistance mutations: not " \
        "recorded" in edge


def test_decision_path_open_branches_name_what_they_wait_on():
    a = _assess("22-lung-liver-ovary-all-resectable.json")
    html = decision_path_html(a, KB)
    p = _path(html)
    possible = [r for r in p.rows if r["result"] == "possible"]
    assert len(possible) == len(a.possible) > 0
    for r in possible:
        assert "The irinotecan regimen that worked before surgery" in r["edge"]
    assert "FOLFIRI + bevacizumab" in html  # a regimen value in the vocabulary's words, not FOLFIRI_BEV
    assert '<details class="path-open-list">' in html
    pdf = decision_path_html(a, KB, pdf=True)
    assert "<details" not in pdf and "<a " not in pdf and "listed under Missing information" in pdf
    assert "lung.systemic.continue_irinotecan.folfiri" in pdf  # the open rows kept as a data attribute


def test_full_trace_split_for_print_keeps_every_table_and_no_part_taller_than_asked():
    a = _assess("79-letter-sigmoid-two-right-lung-nodules.json")
    parts = flowchart_svgs(a, KB, compact=True, max_height=TRACE_PAGE_HEIGHT)
    assert len(parts) >= 2
    tables = []
    for n, svg in enumerate(parts, start=1):
        root = _parse(svg)
        _accessible(root)
        assert root.get("width") == "100%" and root.get("height") is None  # scales, no fixed size
        assert root.get("data-part") == str(n)
        assert float(root.get("viewBox").split()[3]) <= TRACE_PAGE_HEIGHT
        tables += [g.get("data-table") for g in root.iter(f"{S}g") if "table" in (g.get("class") or "").split()]
    assert tables == [t.table for t in a.trace]
    ids = [el.get("id") for svg in parts for el in _parse(svg).iter() if el.get("id")]
    assert len(ids) == len(set(ids)), "ids unique across the parts of one page"


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_timelines_without_durations_are_numbered_sequences(name):
    """Every example's strategies: no duration at all -> numbered steps in order, joined by arrows, no axis and no
    "duration not given" boxes; with a duration -> the month axis is kept."""
    a = _assess(name)
    for n, s in enumerate(a.strategies, start=1):
        root = _parse(timeline_svg(s, n))
        _accessible(root)
        assert root.get("width") == "100%" and root.get("height") is None
        text = " ".join(" ".join(el.text or "" for el in root.iter(f"{S}text")).split())  # what is drawn
        steps = _phases(root)
        assert [g.get("data-code") for g in steps] == [p.code for p in s.timeline]
        if s.timeline and all(p.duration in ("unknown", "event") for p in s.timeline):
            assert "sequence" in root.get("class").split()
            assert [g.get("data-step") for g in steps] == [str(i) for i in range(1, len(steps) + 1)]
            assert "duration not given" not in text and "months from the start" not in text
            arrows = [el for el in root.iter(f"{S}line") if "seq-arrow" in (el.get("class") or "")]
            assert len(arrows) == len(steps) - 1
            for g, ph in zip(steps, s.timeline, strict=True):
                assert ph.label.split()[0] in "".join(g.itertext())
        elif s.timeline:
            assert "sequence" not in root.get("class").split() and "months from the start" in text
