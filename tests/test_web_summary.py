"""The board summary on the web case page and as page 1 of the PDF (issue 20 item 1, decision record 0037): the
first card (after an emergency's first steps), built from the renderers' `summary_items`, its items matching the
Assessment shown: the patient line, the goal, the recommended strategy and every alternative, every current-standard
option, every assumption, every branch question and every safety warning; each with a link to its full section."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

import mcrc
from mcrc.api import Settings, create_app
from mcrc.knowledge import load_knowledge
from mcrc.render.outline import emergency_leads, shown
from mcrc.render.summary import patient_line, safety_codes
from mcrc.store.api import Store
from tests.golden_summary_update import SUMMARY_EXAMPLES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KB = load_knowledge()
BLEEDING = "bleeding-msi"  # the MSI example with a bleeding primary: the emergency's first steps lead


def _data(stem: str) -> dict:
    if stem == BLEEDING:
        data = _data("47-evidence-msi-h-first-line-immunotherapy")
        data["primary"]["emergency"] = "bleeding"
        return data
    return json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))


STEMS = [*SUMMARY_EXAMPLES, BLEEDING]
EMERGENCIES = ["42-rectal-upper-obstruction-peritoneal", "43-rectal-low-impending-obstruction-peritoneal",
               "85-letter-bleeding-sigmoid-liver-metastases"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One store with every example of the summary goldens (and the bleeding variant) assessed; a coordinator
    signed in."""
    url = f"sqlite:///{tmp_path_factory.mktemp('websummary') / 'web.db'}"
    cases = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("coo", "coordinator", actor="adm")
        token = s.create_token("coo", label="tests").token
        for stem in [*STEMS, *EMERGENCIES]:
            case = s.add_case(_data(stem), "coo")
            s.assess(case.id, "coo")
            cases[stem] = case.id
    with TestClient(create_app(Settings(database_url=url, secret_key="test-secret"))) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303
        yield SimpleNamespace(client=c, cases=cases, url=url)


def stored(site, stem: str) -> mcrc.Assessment:
    with Store(site.url) as s:
        return mcrc.Assessment.model_validate(s.assessments(site.cases[stem], "coo")[-1].assessment)


class SummaryCard(HTMLParser):
    """The board summary card of a page: its items (data-kind and other data- attributes, their visible text
    outside the citations' <details>, and the links to full sections), the patient line, the safety block."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # inside <section id="summary"> when > 0
        self.items: list[dict] = []
        self.patient = ""
        self.in_patient = False
        self.li = 0  # nesting of <li> inside the current item
        self.details = 0
        self.safety = False
        self.safety_divs = 0
        self.cites = 0

    def handle_starttag(self, tag, attrs):
        at = dict(attrs)
        if tag == "section" and at.get("id") == "summary":
            self.depth = 1
            return
        if not self.depth:
            return
        if tag == "section":
            self.depth += 1
        if tag == "div" and at.get("id") == "summary-safety":
            self.safety = True
        if tag == "div" and self.safety:
            self.safety_divs += 1  # the safety block ends with its own </div>
        if tag == "details":
            self.details += 1
            self.cites += 1
        if tag == "p" and at.get("data-kind") == "patient":
            self.in_patient = True
        if tag == "li" and "sum-item" in (at.get("class") or ""):
            self.items.append({**{k: v for k, v in at.items() if k.startswith("data-")}, "text": "", "links": [],
                               "safety_block": self.safety})
            self.li = 1
        elif tag == "li" and self.li:
            self.li += 1
        if tag == "a" and self.li and not self.details:
            self.items[-1]["links"].append(at.get("href"))

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag == "section":
            self.depth -= 1
        if tag == "details":
            self.details -= 1
        if tag == "p":
            self.in_patient = False
        if tag == "li" and self.li:
            self.li -= 1
        if tag == "div" and self.safety:
            self.safety_divs -= 1
            self.safety = self.safety_divs > 0

    def handle_data(self, data):
        if not self.depth or self.details:
            return
        if self.in_patient:
            self.patient += data
        elif self.li:
            self.items[-1]["text"] += data


def card(html: str) -> SummaryCard:
    p = SummaryCard()
    p.feed(html)
    return p


def squash(text: str) -> str:
    return " ".join(text.split())


def of_kind(c: SummaryCard, kind: str) -> list[dict]:
    return [x for x in c.items if x["data-kind"] == kind]


@pytest.mark.parametrize("stem", STEMS)
def test_summary_card_opens_the_page_and_matches_the_assessment(site, stem):
    html = site.client.get(f"/cases/{site.cases[stem]}").text
    full = stored(site, stem)
    a = shown(full)
    c = card(html)
    # first: before the provisional banner, the current standard, the scope and goal cards, the branches card
    start = html.index('id="summary"')
    later = [m for m in ('id="provisional"', 'id="current-standard"', 'class="card scope', 'id="goal"',
                         'id="branches"', 'id="strategies"', 'id="warnings"') if m in html]
    assert all(start < html.index(m) for m in later)
    assert html.count('id="summary"') == 1
    first_steps = html.find("First, before anything else")
    assert (0 <= first_steps < start) == emergency_leads(a)
    # the patient line is the one built from the facts of the answer shown
    assert squash(c.patient) == squash(f"Patient {patient_line(a.facts)}")
    texts = {k: [squash(x["text"]) for x in of_kind(c, k)] for k in {x["data-kind"] for x in c.items}}
    if a.goal:
        assert texts["goal"] == [f"Goal {a.goal.label} in full below"]
    else:
        assert "goal" not in texts
    if a.strategies:
        rec = of_kind(c, "recommended")
        assert [x["data-summary-strategy"] for x in rec] == [a.strategies[0].id]
        head = a.strategies[0].label or " -> ".join(st.label for st in a.strategies[0].steps)
        assert texts["recommended"][0].startswith(f"Recommended {head} in full below")
        assert [x["data-summary-strategy"] for x in of_kind(c, "alternative")] == [s.id for s in a.strategies[1:]]
        assert "#strategies" in rec[0]["links"]
    assert len(of_kind(c, "current_standard")) == len(a.current_standard)
    for x, cs in zip(of_kind(c, "current_standard"), a.current_standard, strict=True):
        assert f"{cs.option} ({cs.trial}," in x["text"] and "#current-standard" in x["links"]
    assumptions = full.provisional.assumptions if full.provisional else []
    assert [x["data-summary-presumption"] for x in of_kind(c, "assumed")] == [p.presumption for p in assumptions]
    for x, p in zip(of_kind(c, "assumed"), assumptions, strict=True):
        assert squash(p.assumed) in squash(x["text"]) and "#provisional" in x["links"]
    settle = of_kind(c, "settle")
    assert [x["data-summary-fact"] for x in settle] == [b.fact for b in a.branches]
    for x, b in zip(settle, a.branches, strict=True):
        assert squash(b.question) in squash(x["text"]) and "#branches" in x["links"]
    # every safety warning of the answer, in the safety block apart from the rest, linked to the warnings
    codes = safety_codes(KB)
    safety = [x["data-safety"] for x in of_kind(c, "safety")]
    for w in a.warnings:
        if w.code in codes:
            assert w.code in safety
            x = of_kind(c, "safety")[safety.index(w.code)]
            assert squash(w.label) in squash(x["text"]) and "#warnings" in x["links"]
    assert all(x["safety_block"] == (x["data-kind"] in ("safety", "other_warnings")) for x in c.items)
    others = sum(w.code not in codes for w in a.warnings)
    assert len(of_kind(c, "other_warnings")) == (1 if others else 0)
    # every link of the card leads to a section present on the page; citations are one click away
    for x in c.items:
        for href in x["links"]:
            assert f'id="{href[1:]}"' in html, (x["data-kind"], href)
        if x["data-kind"] != "patient":
            assert x["links"], x
    cited = [x for x in c.items if x["data-kind"] in ("goal", "recommended", "alternative", "current_standard",
                                                       "assumed", "safety")]
    assert c.cites >= sum(1 for x in cited)


def test_the_toc_links_to_the_summary_and_the_strict_view_has_no_assumption(site):
    stem = "79-letter-sigmoid-two-right-lung-nodules"
    html = site.client.get(f"/cases/{site.cases[stem]}").text
    assert '<a href="#summary">Summary</a>' in html
    assert of_kind(card(html), "assumed")
    strict = site.client.get(f"/cases/{site.cases[stem]}?strict=1").text
    c = card(strict)
    full = stored(site, stem)
    assert not of_kind(c, "assumed")
    assert [x["data-summary-fact"] for x in of_kind(c, "settle")] == [b.fact for b in full.branches]
    assert strict.index('id="summary"') < strict.index('id="provisional"')


def pdf_pages_of(site, stem: str) -> tuple[list[str], list[int]]:
    """The text of each page of the case's PDF, as WeasyPrint lays it out (the current-standard PDF test's way),
    and the pages (from 0) on which a box of the summary card is laid out."""
    from weasyprint import HTML

    from mcrc.web.pdf import BASE_URL, AppAssetFetcher

    app_web = site.client.app.state.web
    html = app_web.env.get_template("pdf.html").render(
        case=SimpleNamespace(id=site.cases[stem], label="x", version=1), stale=False, decisions=[],
        record=SimpleNamespace(created_at="2026-01-01T00:00", kb_version="k", engine_version="e"),
        user=SimpleNamespace(name="coo"), generated=dt.datetime(2026, 1, 1),
        **app_web.assessment_context(stored(site, stem), pdf=True))
    doc = HTML(string=html, base_url=BASE_URL, url_fetcher=AppAssetFetcher()).render()

    def words(box) -> list[str]:
        own = [box.text] if type(box).__name__ == "TextBox" else []
        return own + [w for child in getattr(box, "children", []) for w in words(child)]

    def summary(box) -> bool:
        element = getattr(box, "element", None)
        return (element is not None and element.get("id") == "summary") or any(
            summary(child) for child in getattr(box, "children", []))

    # a line broken after a hyphen or a slash ("wild-" / "type", "dMMR/" / "MSI-H") reads as one word again
    return ([unbreak(" ".join(words(page._page_box))) for page in doc.pages],
            [n for n, page in enumerate(doc.pages) if summary(page._page_box)])


def unbreak(text: str) -> str:
    return re.sub(r"(?<=\w[-/]) ", "", squash(text))


# every example's summary fits on page 1 (checked for all 92 examples when this was written); these include the
# three example emergencies, whose first steps come before it on that page (their citations one short line each)
PAGE_ONE = [*STEMS, *EMERGENCIES]


@pytest.mark.parametrize("stem", PAGE_ONE)
def test_pdf_summary_is_on_page_one_and_the_answer_starts_on_page_two(site, stem):
    full = stored(site, stem)
    a = shown(full)
    pages, laid_out = pdf_pages_of(site, stem)
    assert laid_out == [0], f"the summary is laid out on pages {laid_out}"
    if emergency_leads(a):
        assert "First, before anything else" in pages[0]
        assert pages[0].index("First, before anything else") < pages[0].index("Board summary")
    assert "Path through the decision tables" not in pages[0] and len(pages) >= 2


@pytest.mark.parametrize("stem", ["47-evidence-msi-h-first-line-immunotherapy",
                                  "79-letter-sigmoid-two-right-lung-nodules",
                                  "59-treated-second-line-after-folfox-bev-kras-mutant",
                                  "46-colon-peritoneal-only-refer"])
def test_pdf_page_one_is_the_board_summary(site, stem):
    assert site.client.get(f"/cases/{site.cases[stem]}/pdf").status_code == 200
    full = stored(site, stem)
    a = shown(full)
    pages, laid_out = pdf_pages_of(site, stem)
    assert laid_out == [0]
    one, rest = pages[0], " ".join(pages[1:])
    assert "Board summary" in one and "Board summary" not in rest
    assert unbreak(patient_line(a.facts)) in one
    if a.goal:
        assert unbreak(a.goal.label) in one
    if a.strategies:
        s = a.strategies[0]
        assert unbreak(s.label or " -> ".join(st.label for st in s.steps)) in one
    for p in (full.provisional.assumptions if full.provisional else []):
        assert unbreak(p.assumed) in one
    for b in a.branches:
        assert unbreak(b.question) in one
    codes = safety_codes(KB)
    for w in a.warnings:
        if w.code in codes:
            assert unbreak(w.label) in one
    # the full answer starts on page 2: its scope card and (where there is one) its strategies card
    assert "Path through the decision tables" not in one and "Path through the decision tables" in rest
    if a.strategies:
        assert "Strategies (alternative sequences, each in order)" not in one
        assert "Strategies (alternative sequences, each in order)" in rest
