"""Issue 20 item 2, "Structure the answer": strategies named by what they do, regimens grouped and folded,
warnings by severity, section links only for sections present, missing information in clinical words
(decision record 0038)."""

from __future__ import annotations

import pytest

from mcrc import KnowledgeError, load_knowledge
from mcrc.knowledge import load_knowledge_dir
from tests.kbcopy import LUNG, kb_copy


def problems_of(tmp_path, edits):
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, edits))
    return [str(p) for p in exc.value.problems]


# --- 1. every strategy has a label --------------------------------------------------------------------------

def test_every_packaged_strategy_has_a_label():
    kb = load_knowledge()
    unnamed = [r.id for r in kb.rows.values() for s in r.strategies if not s.label]
    assert unnamed == []
    assert sum(len(r.strategies) for r in kb.rows.values()) >= 58


def test_strategy_without_label_is_a_load_error_naming_file_and_row(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "            - label: Palliative systemic therapy\n              steps:",
                                    "            - steps:")])
    assert len(probs) == 1
    assert "tables/10-ccs-lung-2019.yaml:" in probs[0]
    assert "strategy 1 of row lung.route.isolated_unresectable needs a 'label'" in probs[0]


# --- 3. warnings carry a severity from the vocabulary -------------------------------------------------------

VOCAB = "vocabulary.yaml"


def test_every_warning_has_a_severity_and_invariant_warnings_are_safety():
    kb = load_knowledge()
    warnings = kb.vocabulary.terms["warnings"]
    assert warnings and all(t.severity in ("safety", "caution", "note") for t in warnings.values())
    for inv in kb.invariants:
        for code in (*inv.warning_codes, *([inv.caveat_code] if inv.caveat_code else [])):
            assert warnings[code].severity == "safety", (inv.id, code)
    # the source's words: a "never"/"do not" rule, a caution that changes what is done, a note that informs
    assert warnings["anti_egfr_with_anti_vegf_not_recommended"].severity == "safety"
    assert warnings["reirradiation_caution"].severity == "caution"
    assert warnings["liquid_biopsy_unvalidated"].severity == "note"


def test_warning_without_severity_is_a_load_error(tmp_path):
    probs = problems_of(tmp_path, [(VOCAB, "lobectomy_poorer: {label: Lobectomy is followed by poorer survival than "
                                           "sublobar resection, severity: note}",
                                    "lobectomy_poorer: {label: Lobectomy is followed by poorer survival than "
                                    "sublobar resection}")])
    assert len(probs) == 1 and "warning lobectomy_poorer needs a severity" in probs[0] and "it has none" in probs[0]
    assert "vocabulary.yaml:" in probs[0] and "allowed: safety, caution, note" in probs[0]


def test_warning_with_an_unknown_severity_is_a_load_error(tmp_path):
    probs = problems_of(tmp_path, [(VOCAB, "sublobar resection, severity: note}", "sublobar resection, severity: "
                                                                                  "minor}")])
    assert len(probs) == 1 and "got 'minor'" in probs[0]


def test_a_safety_invariants_warning_must_be_safety(tmp_path):
    probs = problems_of(tmp_path, [(VOCAB, "do not proceed straight to resection, severity: safety}",
                                    "do not proceed straight to resection, severity: caution}")])
    assert len(probs) == 1
    assert "safety.yaml:" in probs[0]
    assert ("warning neoadjuvant_progression states safety invariant no_resection_after_neoadjuvant_progression, so "
            "its severity must be safety (the vocabulary says caution)") in probs[0]


def test_severity_belongs_to_warnings_only(tmp_path):
    probs = problems_of(tmp_path, [(VOCAB, "FOLFOX: {label: FOLFOX,", "FOLFOX: {severity: safety, label: FOLFOX,")])
    assert any("severity belongs to warnings" in p for p in probs)


# --- rendering: over every example --------------------------------------------------------------------------

import json  # noqa: E402
import re  # noqa: E402
from functools import cache  # noqa: E402

import mcrc  # noqa: E402
from mcrc.engine.assessment import Caveat, CitationOut, RegimenItem  # noqa: E402
from mcrc.render import render_markdown, render_text  # noqa: E402
from mcrc.render.outline import shown  # noqa: E402
from mcrc.render.structure import (  # noqa: E402
    SEVERITY_TITLE,
    fold_regimens,
    missing_information,
    regimen_groups,
    severity_of,
)
from tests.golden_update import EXAMPLES, example_paths  # noqa: E402

KB = load_knowledge()
STEMS = [p.stem for p in example_paths()]


@cache
def answer(stem: str) -> mcrc.Assessment:
    return mcrc.assess(json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8")))


def _reg(code: str, caveat: str | None = None) -> RegimenItem:
    t = KB.vocabulary.get("regimens", code)
    cav = [Caveat(code=caveat, label=KB.vocabulary.get("warnings", caveat).label, rule="r",
                  citations=[CitationOut(source="s", where="w")])] if caveat else []
    return RegimenItem(code=code, label=t.label, citations=[], rows=[], drugs=list(t.drugs), drug_classes=[],
                       caveats=cav)


def test_fold_hai_variants_and_identical_drug_sets_but_nothing_else():
    items = [_reg(c) for c in ("FOLFOXIRI_BEV", "FOLFOX", "HAI_FUDR", "FOLFIRINOX_BEV", "CAPOX", "HAI_FUDR_FOLFOX",
                               "HAI_FUDR_FOLFIRI", "FOLFIRI")]
    folds = fold_regimens(items, KB.vocabulary)
    assert [f.codes for f in folds] == [["FOLFOXIRI_BEV", "FOLFIRINOX_BEV"], ["FOLFOX"],
                                        ["HAI_FUDR", "HAI_FUDR_FOLFOX", "HAI_FUDR_FOLFIRI"], ["CAPOX"], ["FOLFIRI"]]
    assert folds[0].title == "FOLFOXIRI + bevacizumab or FOLFIRINOX + bevacizumab"
    assert folds[2].title == "Hepatic arterial infusion of floxuridine (3 variants)"
    # the HAI variants fold without their parent too
    assert [f.codes for f in fold_regimens([_reg("HAI_FUDR_FU_LV"), _reg("HAI_FUDR_FOLFIRI")], KB.vocabulary)] == \
        [["HAI_FUDR_FU_LV", "HAI_FUDR_FOLFIRI"]]


def test_a_folded_variants_caveat_stays_on_the_entry():
    folds = fold_regimens([_reg("FOLFOXIRI_BEV"), _reg("FOLFIRINOX_BEV", "combination_needs_fitness")],
                          KB.vocabulary)
    assert len(folds) == 1 and [(c.code, on) for c, on in folds[0].caveats()] == \
        [("combination_needs_fitness", ["FOLFIRINOX + bevacizumab"])]


@pytest.mark.parametrize("stem", STEMS)
def test_every_regimen_is_shown_once_under_its_strategy_or_in_the_shared_group(stem):
    a = shown(answer(stem))
    own, shared = regimen_groups(a, KB.vocabulary)
    grouped = [r.code for g in [*own.values(), *([shared] if shared else [])] for f in g.folds for r in f.members]
    named = {c for s in a.strategies for st in s.steps for c in st.regimens}
    assert sorted(grouped) == sorted({r.code for r in a.regimens} | named)
    for n, g in own.items():
        assert {r.code for f in g.folds for r in f.members} == {c for st in a.strategies[n - 1].steps
                                                                  for c in st.regimens}
    if shared is not None:
        assert not {r.code for f in shared.folds for r in f.members} & named
    md = render_markdown(answer(stem))
    for r in a.regimens:  # every regimen and every caveat of it is in the full rendering
        assert r.label in md
        for c in r.caveats:
            assert c.label in md


@pytest.mark.parametrize("stem", STEMS)
def test_strategies_are_headed_by_their_label_with_their_steps_beneath(stem):
    a = shown(answer(stem))
    md = render_markdown(answer(stem))
    if not a.strategies:
        return
    block = md.split("## Strategies (alternatives, each in order)\n", 1)[1].split("\n## ", 1)[0]
    for n, s in enumerate(a.strategies, start=1):
        assert s.label
        head = next(line for line in block.splitlines() if line.startswith(f"{n}. "))
        assert head.startswith(f"{n}. {s.label} _[") or head == f"{n}. {s.label}"
        body = block.split(head, 1)[1].split(f"\n{n + 1}. ", 1)[0]
        steps = [line.strip() for line in body.splitlines() if re.match(r"   \d+\. ", line)]
        assert [x.split(". ", 1)[1].split(" [")[0] for x in steps] == [st.label for st in s.steps]


@pytest.mark.parametrize("stem", STEMS)
def test_warnings_are_grouped_by_severity_safety_first(stem):
    a = shown(answer(stem))
    md = render_markdown(answer(stem))
    order = [md.index(f"## {SEVERITY_TITLE[s]}\n") for s in ("safety", "caution", "note")
             if any(severity_of(KB, w.code) == s for w in a.warnings)]
    assert order == sorted(order)
    for w in a.warnings:
        sev = severity_of(KB, w.code)
        section = md.split(f"## {SEVERITY_TITLE[sev]}\n", 1)[1].split("\n## ", 1)[0]
        assert (f"- SAFETY: {w.label}" if sev == "safety" else f"- {w.label}") in section
    text = render_text(answer(stem), width=2000)
    if a.warnings:
        assert "## Warnings" not in md and "\nWarnings\n" not in text


@pytest.mark.parametrize("stem", STEMS)
def test_missing_information_in_clinical_words_most_decisive_first(stem):
    a = shown(answer(stem))
    missing = missing_information(a, KB)
    assert sorted(m.fact for m in missing) == sorted(u.fact for u in a.unknown_facts)
    keys = [(-m.branch, -m.shaping, -len(m.rows)) for m in missing]
    assert keys == sorted(keys)
    if not missing:
        return
    md = render_markdown(answer(stem))
    block = md.split("## Missing information, most decisive first (what it would change)\n", 1)[1].split("\n## ")[0]
    shown_lines = [line[2:] for line in block.splitlines() if line.startswith("- ")]
    assert shown_lines == [m.description for m in missing]
    codes = {u.fact for u in a.unknown_facts} | {r for u in a.unknown_facts for r in u.rows}
    for line in block.splitlines():  # no fact code or rule id is the visible text
        assert not any(re.search(rf"(?<![\w.]){re.escape(c)}(?![\w.])", line) for c in codes if "_" in c or "." in c)


# --- 4. the web page: section links only for sections present; the structure on the page --------------------

from html.parser import HTMLParser  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

from mcrc.api import Settings, create_app  # noqa: E402
from mcrc.store.api import Store  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One store with every example assessed; a coordinator signed in."""
    url = f"sqlite:///{tmp_path_factory.mktemp('structure') / 'web.db'}"
    cases = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("coo", "coordinator", actor="adm")
        token = s.create_token("coo", label="tests").token
        for stem in STEMS:
            case = s.add_case(json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8")), "coo")
            s.assess(case.id, "coo")
            cases[stem] = case.id
    with TestClient(create_app(Settings(database_url=url, secret_key="test-secret"))) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"}, follow_redirects=False)
        assert r.status_code == 303
        yield SimpleNamespace(client=c, cases=cases, url=url)


class Anchors(HTMLParser):
    """Every id on the page, every in-page link (with the text of the element it sits in), the nav's links."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.nav: list[str] = []
        self.in_nav = False

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        if d.get("id"):
            self.ids.add(d["id"])
        if tag == "nav" and d.get("class") == "toc":
            self.in_nav = True
        if tag == "a" and (d.get("href") or "").startswith("#"):
            self.links.append(d["href"][1:])
            if self.in_nav:
                self.nav.append(d["href"][1:])

    def handle_endtag(self, tag):
        if tag == "nav":
            self.in_nav = False


@pytest.mark.parametrize("stem", STEMS)
def test_every_section_link_points_at_a_section_present(site, stem):
    for query in ("", "?strict=1"):
        html = site.client.get(f"/cases/{site.cases[stem]}{query}").text
        p = Anchors()
        p.feed(html)
        assert p.nav and p.links
        missing = [x for x in p.links if x not in p.ids]
        assert missing == [], (stem, query, missing)
        # and the navigation leaves out no card the answer has
        for anchor in ("goal", "strategies", "regimens", "warnings", "missing", "evidence", "followup", "branches"):
            if f'id="{anchor}"' in html:
                assert anchor in p.nav, (stem, anchor)


def test_the_page_shows_folds_severity_and_missing_information_in_words(site):
    stem = "32-palliative-first-line-left-ras-wild-type"
    a = shown(answer(stem))
    html = site.client.get(f"/cases/{site.cases[stem]}").text
    # the HAI variants as one entry, the variants one click away, each with its own code and citation
    fold = re.search(r'<li class="item regimen folded" data-fold="([^"]+)">(.*?)</details>', html, re.S)
    assert fold and set(fold.group(1).split()) == {r.code for r in a.regimens if r.code.startswith("HAI_FUDR")}
    assert '<details class="variants"><summary>The 4 variants' in fold.group(2)
    # by severity, safety first, each warning in the block of its severity
    card = html.split('id="warnings"', 1)[1].split("</section>", 1)[0]
    blocks = re.findall(r'<div class="severity severity-(\w+)"', card)
    assert blocks == [s for s in ("safety", "caution", "note") if any(severity_of(KB, w.code) == s
                                                                      for w in a.warnings)] and blocks[0] == "safety"
    for w in a.warnings:
        assert f'data-code="{w.code}" data-severity="{severity_of(KB, w.code)}"' in card
    assert "Strategy 1" not in html
    # unknowns: their descriptions, the fact codes only as data and small print
    for u in a.unknown_facts:
        assert f'data-fact="{u.fact}"' in html and u.description in html
        assert f"<code>{u.fact}</code>" not in html
