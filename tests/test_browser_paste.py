"""The "paste reports" panel in a real browser (Debian's chromium driven by Playwright) against a real uvicorn server
(issue 22 item 2, decision record 0046): a clinician pastes two reports, the form fills with every extracted field
marked, hovering over or moving to a field shows the sentence it was read from, a changed field is marked as changed,
submitting opens the case page; at 390 px nothing of the panel or the draft is wider than the phone. Fails on any
console error, Content-Security-Policy violations included. Saves build/paste-reports-{width}.png."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from tests.test_browser import ARGS, CHROMIUM, CSP, ROOT, _free_port, pytestmark  # noqa: F401 - the same skip
from tests.test_browser_forms import _fits, _page, _sign_in
from tests.test_web_paste import CT, PATHOLOGY


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from mcrc.api import Settings, create_app
    from mcrc.store.api import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('browser-paste') / 'mcrc.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("cli", "clinician", actor="adm")
        token = s.create_token("cli", label="browser test").token
    app = create_app(Settings(database_url=url, secret_key="browser-test"))

    @app.middleware("http")
    async def csp(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token, url
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize(("width", "height"), [(1440, 900), (390, 844)])
def test_paste_two_reports_check_the_draft_and_create_the_case(server, width, height):
    from playwright.sync_api import expect, sync_playwright

    from mcrc.store.api import Store

    base, token, url = server
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = _page(browser, problems, width, height)
            _sign_in(page, base, token, "/cases/new")
            panel = page.locator("#paste-reports")
            expect(panel.locator("fieldset.report")).to_have_count(2)
            page.click("#paste-form .add-report")  # a third box on demand (script), focused
            expect(panel.locator("fieldset.report")).to_have_count(3)
            expect(page.locator("#report-text-3")).to_be_focused()
            page.fill("#report-name-1", "pathology 2026-10-03")
            page.select_option("#report-type-1", "pathology")
            page.fill("#report-text-1", PATHOLOGY)
            page.fill("#report-name-2", "CT 2026-11-02")
            page.select_option("#report-type-2", "radiology")
            page.fill("#report-text-2", CT)
            if width == 390:
                _fits(page, "#paste-reports")
            page.click("#read-reports")
            expect(page.locator("#extraction-summary")).to_contain_text("Draft from 2 reports")
            marked = page.locator("#patient-form .field.from-report.extracted")
            assert marked.count() >= 8, marked.count()
            expect(page.locator("#patient-form .field.from-report.edited")).to_have_count(0)
            count = page.locator(".field[data-path='metastases[0].count']")
            expect(count.locator("input")).to_have_value("3")
            expect(count.locator(".from-tag")).to_have_text("from the reports")
            # the sentence shows on hover ...
            note = count.locator(".source")
            expect(note).to_be_hidden()
            count.locator("input").hover()
            expect(note).to_be_visible()
            expect(note).to_contain_text("Three pulmonary nodules in keeping with metastases")
            expect(note).to_contain_text("CT 2026-11-02")
            # ... and on focus from the keyboard (the field's description points to it)
            kras = page.locator(".field[data-path='biomarkers.kras_variant']")
            page.mouse.move(0, 0)
            kras.locator("select").focus()
            expect(kras.locator(".source")).to_be_visible()
            expect(kras.locator(".source")).to_contain_text("p.G12C")
            assert "src-biomarkers.kras_variant" in kras.locator("select").get_attribute("aria-describedby")
            if width == 390:
                _fits(page, "#paste-reports")
                _fits(page, "#extraction-summary")
                _fits(page)
            Path(ROOT / "build").mkdir(exist_ok=True)
            page.screenshot(path=str(ROOT / "build" / f"paste-reports-{width}.png"), full_page=False)
            # the clinician counts four nodules on the images: the field is marked as changed
            count.locator("input").fill("4")
            expect(count).to_have_class(re.compile(r"\bedited\b"))
            expect(count.locator(".from-tag")).to_have_text("changed from the report's value")
            expect(page.locator("#validity")).to_have_text("No problems found so far.")
            page.click("#create-case")
            expect(page).to_have_url(re.compile(r"/cases/\d+$"))
            case_id = int(page.url.rsplit("/", 1)[1])
            expect(page.locator("h1")).to_be_visible()
        finally:
            browser.close()
    assert not problems, problems
    with Store(url) as s:
        [rec] = s.extractions(case_id, "adm")
    by = {f["field"]: f for f in rec.fields}
    assert rec.confirmed_by == "cli" and by["metastases[0].count"]["origin"] == "clinician"
    assert by["metastases[0].count"]["value"] == 4 and by["biomarkers.kras_variant"]["origin"] == "extracted"
