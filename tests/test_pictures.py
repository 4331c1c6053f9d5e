"""The SVG pictures: the flowchart marks exactly the rows the engine fired / found possible, and the
timeline draws known durations to scale and never invents one."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import mcrc
from mcrc.engine.assessment import Phase, StepOut, StrategyOut
from mcrc.render.flowchart import STYLE, flowchart_svg
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
