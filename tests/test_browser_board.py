"""Issue 20's done-criterion in a real browser (Debian's chromium through Playwright): on a 1440x900 screen every
example's board summary - patient, goal, recommended strategy with regimens, alternatives, the current standard,
assumptions, what to settle and the safety warnings - is on screen without scrolling, even after an emergency's
first steps; at 390 px no element of the case page is wider than the phone. Saves build/board-<example>-1440.png and
build/board-<example>-390.png for five examples."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.test_browser import ARGS, CHROMIUM, ROOT, _free_port, pytestmark  # noqa: F401

STEMS = sorted(p.stem for p in (ROOT / "examples").glob("*.json"))
SHOTS = ("22-lung-liver-ovary-all-resectable", "43-rectal-low-impending-obstruction-peritoneal",
         "47-evidence-msi-h-first-line-immunotherapy", "79-letter-sigmoid-two-right-lung-nodules",
         "87-letter-frail-caecum-multiple-liver-ras-mutant")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from mcrc.api import Settings, create_app
    from mcrc.store.api import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('browser-board') / 'mcrc.db'}"
    cases = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("coo", "coordinator", actor="adm")
        token = s.create_token("coo", label="browser test").token
        for stem in STEMS:
            case = s.add_case(json.loads((ROOT / "examples" / f"{stem}.json").read_text(encoding="utf-8")), "coo")
            s.assess(case.id, "coo")
            cases[stem] = case.id
    srv = uvicorn.Server(uvicorn.Config(create_app(Settings(database_url=url, secret_key="browser-test")),
                                        host="127.0.0.1", port=(port := _free_port()), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token, cases
    srv.should_exit = True
    thread.join(timeout=10)


_BELOW = """(h) => [...document.querySelectorAll('#summary [data-kind]')]
    .map(e => [e.dataset.kind, e.getBoundingClientRect().bottom]).filter(([k, b]) => b > h)
    .map(([k, b]) => k + ' ends at ' + Math.round(b))"""
_WIDE = """() => [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1; })
    .map(e => e.tagName + '.' + e.className).slice(0, 5)"""


def test_every_summary_fits_a_1440x900_screen_and_no_page_is_wider_than_a_phone(server):
    from playwright.sync_api import expect, sync_playwright

    base, token, cases = server
    problems: list[str] = []
    (ROOT / "build").mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{base}/login?next=/")
            page.fill("#token", token)
            page.click("form[action='/login'] button[type=submit]")
            expect(page).to_have_url(f"{base}/")
            for stem in STEMS:
                page.goto(f"{base}/cases/{cases[stem]}")
                assert page.locator("#summary [data-kind='patient']").count() == 1, stem
                below = page.evaluate(_BELOW, 900)
                if below:
                    problems.append(f"{stem} at 1440x900: {below}")
                if stem in SHOTS:
                    page.screenshot(path=str(ROOT / "build" / f"board-{stem}-1440.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            for stem in SHOTS:
                page.goto(f"{base}/cases/{cases[stem]}")
                wide = page.evaluate(_WIDE)
                if wide:
                    problems.append(f"{stem} at 390 px, wider than the phone: {wide}")
                page.locator("#summary").screenshot(path=str(ROOT / "build" / f"board-{stem}-390.png"))
        finally:
            browser.close()
    assert not problems, problems
