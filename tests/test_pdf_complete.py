"""The PDF keeps everything (issue 20 item 4, decision record 0039): for EVERY example, the PDF the case page offers
(the real route, one PDF per example) holds, in its extracted text, the title of every decision table that applied,
the goal, every strategy and its steps, every regimen option, every local treatment and every warning of the answer
shown. Pictures are split or flow across pages, never cut at a page's end, so nothing used in the answer is lost.

Cost: one PDF rendering and one text extraction per example (about 3 s each on the 2-core machine; the whole file
takes a few minutes, see decision record 0039)."""

from __future__ import annotations

import io
import json
import re
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

import mcrc
from mcrc.api import Settings, create_app
from mcrc.render.outline import shown
from mcrc.store.api import Store

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STEMS = sorted(p.stem for p in EXAMPLES.glob("*.json"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One store with every example assessed, a coordinator signed in."""
    url = f"sqlite:///{tmp_path_factory.mktemp('pdfall') / 'web.db'}"
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


def flat(text: str) -> str:
    """Text compared without its whitespace (a PDF breaks lines anywhere a browser may) and with ligatures and
    compatibility forms unfolded (NFKC)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def expected_items(full: mcrc.Assessment) -> dict[str, list[str]]:
    """What the PDF must hold: the applied tables of the trace, and the answer shown's recommended items and
    warnings (the provisional answer where presumptions were used, as on the page)."""
    a = shown(full)
    strategies = []
    for n, s in enumerate(a.strategies, start=1):
        strategies.append(s.label or f"Strategy {n}")
        strategies += [st.label for st in s.steps]
    return {
        "applied table": [t.title for t in full.trace if t.applies != "false"],
        "goal": [a.goal.label] if a.goal else [],
        "strategy": strategies,
        "regimen": [r.label for r in a.regimens],
        "local treatment": [x.label for x in a.local_treatment],
        "warning": [w.label for w in a.warnings],
    }


@pytest.mark.parametrize("stem", STEMS)
def test_pdf_keeps_every_applied_table_recommended_item_and_warning(site, stem):
    r = site.client.get(f"/cases/{site.cases[stem]}/pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    text = flat(pdf_text(r.content))
    with Store(site.url) as s:
        full = mcrc.Assessment.model_validate(s.assessments(site.cases[stem], "coo")[-1].assessment)
    items = expected_items(full)
    assert items["applied table"], "every example applies at least one table"
    missing = [f"{kind}: {label}" for kind, labels in items.items() for label in labels if flat(label) not in text]
    assert not missing, f"{len(missing)} items not in the PDF: {missing}"
