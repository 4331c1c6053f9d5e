"""The PDF keeps everything (issue 20 item 4, decision record 0039): for EVERY example, the PDF the case page offers
(the real route, one PDF per example) holds, in its extracted text, the title of every decision table that applied,
the goal, every strategy and its steps, every regimen option, every local treatment and every warning of the answer
shown. Pictures are split or flow across pages, never cut at a page's end, so nothing used in the answer is lost.

Cost: one PDF rendering (WeasyPrint, 1-5 s) and one text extraction (pypdfium2, ~0.1 s) per example, rendered
by a pool of processes, one per core, each with its own app on the same store (decision record 0039)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient

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
    workers = max(1, min(4, os.cpu_count() or 1))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_sign_in,
                             initargs=(url, token)) as pool:
        pdfs = dict(zip(cases, pool.map(_pdf, cases.values()), strict=True))
    yield SimpleNamespace(pdfs=pdfs, cases=cases, url=url)


_CLIENT: TestClient | None = None


def _sign_in(url: str, token: str) -> None:
    """A pool worker: its own app on the shared store, signed in as the coordinator."""
    global _CLIENT
    c = TestClient(create_app(Settings(database_url=url, secret_key="test-secret")))
    c.__enter__()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    _CLIENT = c


def _pdf(case_id: int) -> tuple[int, bool, str]:
    """The real route's PDF of one case: status, whether it is a PDF, its extracted text."""
    assert _CLIENT is not None
    r = _CLIENT.get(f"/cases/{case_id}/pdf")
    ok = r.status_code == 200 and r.content.startswith(b"%PDF-")
    return r.status_code, ok, pdf_text(r.content) if ok else ""


def flat(text: str) -> str:
    """Text compared without its whitespace (a PDF breaks lines anywhere a browser may) and with ligatures and
    compatibility forms unfolded (NFKC)."""
    # PDFium reports a hyphen where a line may break as U+FFFE
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text.replace("\ufffe", "-")))


def pdf_text(data: bytes) -> str:
    """The PDF's text, page after page, without what the page itself adds: list markers (drawn apart from the text,
    they come out between its lines) and the running footer, so that an item flowing onto the next page reads on."""
    doc = pdfium.PdfDocument(data)
    try:
        pages = [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()
    text = "\n".join(pages)
    return re.sub(r"[\u2022\u25e6\u25aa]|page \d+ of \d+", "", text)


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
    status, ok, text = site.pdfs[stem]
    assert ok, f"the PDF route answered {status}"
    text = flat(text)
    with Store(site.url) as s:
        full = mcrc.Assessment.model_validate(s.assessments(site.cases[stem], "coo")[-1].assessment)
    items = expected_items(full)
    assert items["applied table"], "every example applies at least one table"
    missing = [f"{kind}: {label}" for kind, labels in items.items() for label in labels if flat(label) not in text]
    assert not missing, f"{len(missing)} items not in the PDF: {missing}"
