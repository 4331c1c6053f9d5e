"""Issue 20 item 2 in a real browser (Debian's chromium through Playwright): a folded regimen opens to its variants,
the safety warnings are visibly heavier than the cautions and notes, the structured cards fit a 390 px phone.
Saves build/structure-1440.png and build/structure-390.png."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.test_browser import ARGS, CHROMIUM, ROOT, _free_port, pytestmark  # noqa: F401

EXAMPLES = ("32-palliative-first-line-left-ras-wild-type.json", "16-referral-many-unknowns.json",
            "33-palliative-first-line-right-ras-wild-type-lung-and-liver.json")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from mcrc.api import Settings, create_app
    from mcrc.store.api import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('browser-structure') / 'mcrc.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("coo", "coordinator", actor="adm")
        token = s.create_token("coo", label="browser test").token
        for name in EXAMPLES:
            s.add_case(json.loads((ROOT / "examples" / name).read_text(encoding="utf-8")), "coo")
    srv = uvicorn.Server(uvicorn.Config(create_app(Settings(database_url=url, secret_key="browser-test")),
                                        host="127.0.0.1", port=(port := _free_port()), log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    srv.should_exit = True
    thread.join(timeout=10)


def test_folds_open_safety_weighs_more_and_the_cards_fit_a_phone(server):
    from playwright.sync_api import expect, sync_playwright

    base, token = server
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            page.set_default_timeout(15_000)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{base}/login?next=/cases/1")
            page.fill("#token", token)
            page.click("form[action='/login'] button[type=submit]")
            expect(page).to_have_url(f"{base}/cases/1")
            fold = page.locator("#regimens li.folded").filter(has_text="Hepatic arterial infusion of floxuridine")
            expect(fold).to_have_count(1)
            variants = fold.locator("details.variants li.variant")
            expect(variants.first).to_be_hidden()
            fold.locator("details.variants > summary").click()
            expect(variants).to_have_count(4)
            expect(variants.first).to_be_visible()
            page.goto(f"{base}/cases/3")  # a safety warning and a note
            weight = page.evaluate("""() => Object.fromEntries(['safety', 'note'].map(s => {
                const e = document.getElementById('warnings-' + s);
                return [s, e ? parseFloat(getComputedStyle(e).borderLeftWidth) : null]; }))""")
            assert weight["safety"] and weight["note"] and weight["safety"] > weight["note"], weight
            assert page.locator("#warnings .severity").first.get_attribute("data-severity") == "safety"
            (ROOT / "build").mkdir(exist_ok=True)
            page.locator("#warnings").screenshot(path=str(ROOT / "build" / "structure-1440.png"))
            page.set_viewport_size({"width": 390, "height": 844})
            for case in (1, 2, 3):
                page.goto(f"{base}/cases/{case}")
                widest = page.evaluate("""() => {
                    const cards = ['strategies', 'regimens', 'warnings', 'missing'].map(i => document.getElementById(i))
                        .filter(Boolean);
                    const boxes = cards.flatMap(c => [c, ...c.querySelectorAll('*')])
                        .map(e => e.getBoundingClientRect()).filter(b => b.width > 0);
                    return {right: Math.max(...boxes.map(b => b.right)), viewport: window.innerWidth,
                            cards: cards.length};
                }""")
                assert widest["cards"] >= 1 and widest["right"] <= widest["viewport"], (case, widest)
            page.locator("#missing").screenshot(path=str(ROOT / "build" / "structure-390.png"))
        finally:
            browser.close()
    assert not problems, problems
