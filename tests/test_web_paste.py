"""The new-case page's "paste reports" panel (issue 22 item 2, decision record 0046) against the real app and a real
SQLite store: pasted reports fill the form, every extracted field marked with its source sentence; conflicts listed
in words, their fields empty; nothing stored until the form is submitted; the saved case records which fields came
from the reports and who confirmed them; a field changed before saving is the clinician's; bad input is said on the
panel and stores nothing."""

from __future__ import annotations

import html as htmllib
import json
import re
from html.parser import HTMLParser

import pytest

from mcrc.store.api import Store
from mcrc.web import paste as ppaste
from tests.test_web import USERS, _client, _csrf, _login

PATHOLOGY = ("Sigmoid colon, anterior resection: adenocarcinoma of the sigmoid colon.\n"
             "Molecular pathology: KRAS exon 2 codon 12 mutation detected (p.G12C). NRAS wild-type. "
             "BRAF V600E mutation not detected.\nMMR immunohistochemistry: MLH1, PMS2, MSH2 and MSH6 retained.")
CT = ("CT chest, abdomen and pelvis.\nFindings: Three pulmonary nodules in keeping with metastases, the largest "
      "measuring 2.3 x 1.9 cm in the right lower lobe. No lymphangitic spread.\nThe liver is normal.")
LETTER = "Referral letter.\nShe is fully active. KRAS wild-type on the outside report."


class _Fields(HTMLParser):
    """The values the patient form would submit as rendered (inputs, selected options, hidden fields)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_form = a.get("id") == "patient-form"
        elif not self._in_form:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("checkbox",):
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
            self.values.setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def _form_values(page: str) -> dict[str, str]:
    p = _Fields()
    p.feed(page)
    return p.values


def _marked(page: str) -> dict[str, str]:
    """Field path -> 'extracted' or 'edited' for every field marked as filled from the reports."""
    return {m.group(2): m.group(1) for m in re.finditer(
        r'class="field[^"]*from-report (extracted|edited)" data-path="([^"]+)"', page)}


def _state(site) -> tuple[int, int]:
    with Store(site["url"]) as s:
        return len(s.list_cases("adm")), len(s.audit_entries("adm"))


@pytest.fixture
def site(tmp_path):
    """A migrated store with the users of tests/test_web.py and their tokens, and no case yet."""
    url = f"sqlite:///{tmp_path / 'paste.db'}"
    tokens: dict[str, str] = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        for name, role in USERS.items():
            s.add_user(name, role, actor="adm")
            tokens[name] = s.create_token(name, label="tests").token
    return {"url": url, "tokens": tokens}


@pytest.fixture
def cli(site):
    with _client(site) as c:
        _login(c, site["tokens"]["cli"])
        yield c


def _paste(c, reports, status: int = 200) -> str:
    page = c.get("/cases/new")
    assert page.status_code == 200 and 'id="paste-form"' in page.text
    data = {"csrf_token": _csrf(page.text), "report_name": [r[0] for r in reports],
            "report_type": [r[1] for r in reports], "report_text": [r[2] for r in reports]}
    r = c.post("/cases/new/extract", data=data)
    assert r.status_code == status, r.text[:800]
    assert "Traceback" not in r.text
    return r.text


def _draft(page: str) -> dict:
    m = re.search(r'name="_extraction" value="([^"]*)"', page)
    assert m, "the page carries no draft"
    return json.loads(htmllib.unescape(m.group(1)))


def test_pasted_reports_fill_the_form_each_field_marked_with_its_sentence(cli, site):
    before = _state(site)
    page = _paste(cli, [("path-2026-10-03", "pathology", PATHOLOGY), ("ct-2026-11-02", "radiology", CT)])
    draft = _draft(page)
    assert draft["documents"] == [{"name": "path-2026-10-03", "type": "pathology"},
                                  {"name": "ct-2026-11-02", "type": "radiology"}]
    prov = draft["provenance"]
    assert {"biomarkers.kras", "biomarkers.kras_variant", "biomarkers.nras", "biomarkers.mmr",
            "metastases[0].organ", "metastases[0].count", "metastases[0].largest_size.value",
            "metastases[0].lymphangitic"} <= set(prov)
    # every extracted field, and only those, is marked as from the reports, holding the draft's value
    assert _marked(page) == {p: "extracted" for p in prov}
    values = _form_values(page)
    assert values["biomarkers.kras"] == "mutant" and values["biomarkers.kras_variant"] == "G12C"
    assert values["metastases[0].organ"] == "lung" and values["metastases[0].count"] == "3"
    assert values["metastases[0].lymphangitic"] == "false"
    # each field's sentence: in its title (hover) and in a note the field points to (shown on focus, read aloud)
    for path, src in prov.items():
        sentence = htmllib.escape(src["sentence"], quote=True)
        note = re.search(rf'<small class="source" id="src-{re.escape(path)}" role="note">(.*?)</small>', page, re.S)
        assert note and sentence in note.group(1) and htmllib.escape(src["document"]) in note.group(1), path
        assert re.search(rf'id="f-{re.escape(path)}" name="{re.escape(path)}" aria-describedby="err-'
                         rf'{re.escape(path)} src-{re.escape(path)}"[^>]*title="From {re.escape(src["document"])}: '
                         rf'{re.escape(sentence)}"', page), path
    assert "Three pulmonary nodules in keeping with metastases" in page
    assert "Nothing has been saved yet" in re.sub(r"\s+", " ", page)
    assert _state(site) == before  # nothing stored, nothing audited: a draft is not a case


def test_a_conflict_is_listed_in_words_and_its_field_left_empty(cli, site):
    before = _state(site)
    page = _paste(cli, [("path.txt", "pathology", PATHOLOGY), ("letter.txt", "letter", LETTER)])
    draft = _draft(page)
    assert [c["field"] for c in draft["conflicts"]] == ["biomarkers.kras"]
    summary = page[page.index('id="extraction-summary"'):page.index('id="patient-form"')]
    text = re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", "", summary)))
    assert "The reports disagree: 1 field left empty for you to settle" in text
    assert "KRAS status: mutant in path.txt (" in text and "wild type in letter.txt (" in text
    assert "KRAS wild-type on the outside report." in text
    values = _form_values(page)
    assert values["biomarkers.kras"] == "" and "biomarkers.kras" not in _marked(page)
    assert values["ecog"] == "0" and _marked(page)["ecog"] == "extracted"  # "fully active", inferred
    assert "inferred from a standard phrase" in page
    assert _state(site) == before


def test_a_course_conflict_is_said_in_words_and_the_form_still_saves(cli, site):
    """Extraction names a course's conflicting field in words ('course FOLFIRI started'), not by a path: the page
    says it in the form's words and the case still saves, the conflict recorded."""
    page = _paste(cli, [("a.txt", "letter", "Second-line FOLFIRI started 01/07/2025, ongoing."),
                        ("b.txt", "letter", "Second-line FOLFIRI started 03/07/2025.")])
    assert [c["field"] for c in _draft(page)["conflicts"]] == ["course FOLFIRI started"]
    assert "Course FOLFIRI › Started</strong>" in page
    values = _form_values(page)
    assert values["treatment_history.courses[0].regimen"] == "FOLFIRI"
    assert values["treatment_history.courses[0].started"] == ""
    r = cli.post("/cases", data=values, follow_redirects=False)
    assert r.status_code == 303, r.text[:800]
    with Store(site["url"]) as s:
        [rec] = s.extractions(int(r.headers["location"].rsplit("/", 1)[1]), "adm")
    conflict = [f for f in rec.fields if f["origin"] == "conflict"]
    assert [(f["field"], f["value"], [v["value"] for v in f["conflict"]]) for f in conflict] == [
        ("course FOLFIRI started", None, ["2025-07-01", "2025-07-03"])]


def test_submitting_the_filled_form_stores_the_case_with_its_record_and_the_audit_entry(cli, site):
    page = _paste(cli, [("path.txt", "pathology", PATHOLOGY), ("letter.txt", "letter", LETTER)])
    values = _form_values(page)
    values["biomarkers.kras"] = "mutant"  # the clinician settles the conflict
    r = cli.post("/cases", data=values, follow_redirects=False)
    assert r.status_code == 303, r.text[:800]
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    with Store(site["url"]) as s:
        [rec] = s.extractions(case_id, "adm")
        entries = s.audit_entries("adm")
        case = s.get_case(case_id, "adm")
        assert s.verify_chain().ok
    assert rec.confirmed_by == "cli" and rec.case_version == case.version == 1
    assert [d["name"] for d in rec.documents] == ["path.txt", "letter.txt"]
    origins = {f["field"]: f["origin"] for f in rec.fields}
    assert origins.pop("biomarkers.kras") == "conflict"
    assert set(origins) == set(_draft(page)["provenance"]) and set(origins.values()) == {"extracted"}
    assert case.patient["biomarkers"]["kras"] == "mutant"
    assert [(e.action, e.user_name, e.entity_id) for e in entries[-2:]] == [
        ("case.create", "cli", str(case_id)), ("extraction.confirm", "cli", str(rec.id))]
    assert cli.get(f"/cases/{case_id}").status_code == 200


def test_a_field_changed_before_saving_is_recorded_as_the_clinicians(cli, site):
    page = _paste(cli, [("path.txt", "pathology", PATHOLOGY), ("ct.txt", "radiology", CT)])
    values = _form_values(page)
    values["metastases[0].count"] = "4"  # the clinician counted four on the images
    values["biomarkers.mmr"] = ""  # and does not take the MMR status from this report
    r = cli.post("/cases", data=values, follow_redirects=False)
    assert r.status_code == 303, r.text[:800]
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    with Store(site["url"]) as s:
        [rec] = s.extractions(case_id, "adm")
    by = {f["field"]: f for f in rec.fields}
    assert (by["metastases[0].count"]["origin"], by["metastases[0].count"]["value"]) == ("clinician", 4)
    assert by["metastases[0].count"]["extracted"]["value"] == 3
    assert (by["biomarkers.mmr"]["origin"], by["biomarkers.mmr"]["value"]) == ("clinician", None)
    assert by["biomarkers.nras"]["origin"] == "extracted"


def test_a_refused_submit_keeps_the_marks_and_shows_the_changed_field(cli, site):
    page = _paste(cli, [("ct.txt", "radiology", CT)])
    values = _form_values(page)
    values["metastases[0].count"] = "many"  # not a number: the form comes back, nothing stored
    before = _state(site)
    r = cli.post("/cases", data=values)
    assert r.status_code == 422
    assert _state(site) == before
    marked = _marked(r.text)
    assert marked["metastases[0].count"] == "edited" and marked["metastases[0].organ"] == "extracted"
    assert "changed from the report's value" in r.text and 'name="_extraction"' in r.text


def test_an_altered_draft_stores_nothing(cli, site):
    page = _paste(cli, [("ct.txt", "radiology", CT)])
    values = _form_values(page)
    forged = _draft(page)
    forged["provenance"]["metastases[0].count"]["sentence"] = "Ten nodules."
    values["_extraction"] = json.dumps(forged)
    before = _state(site)
    r = cli.post("/cases", data=values)
    assert r.status_code == 422 and "cannot be verified" in r.text
    assert _state(site) == before


@pytest.mark.parametrize(("reports", "message"), [
    ([("", "auto", ""), ("", "auto", "  ")], "Paste at least one report"),
    ([("path.txt", "pathology", "   \n ")], "The report is empty"),
    ([("scan.pdf", "auto", "%PDF-1.7\x00\x01\x02 binary")], "Contains control characters: this is binary data"),
    ([("huge.txt", "auto", "CEA 5 ng/mL. " * (ppaste.MAX_CHARS // 13 + 1))],
     f"a report pasted here may have at most {ppaste.MAX_CHARS:,}"),
    ([("a.txt", "auto", PATHOLOGY), ("a.txt", "auto", CT)], "Two reports are named &#39;a.txt&#39;"),
    ([("a.txt", "xray", CT)], "&#39;xray&#39; is not a kind of report"),
])
def test_bad_input_is_said_on_the_panel_and_stores_nothing(cli, site, reports, message):
    before = _state(site)
    page = _paste(cli, reports, status=422)
    assert message in page, re.findall(r'class="err"[^>]*>(.*?)</p>', page)
    assert 'name="_extraction"' not in page  # no draft
    assert "\x00" not in page and "CEA 5 ng/mL. CEA 5" not in page  # binary and oversized text are not echoed
    assert _state(site) == before


def test_the_panel_needs_a_signed_in_user_and_a_csrf_token(site):
    with _client(site) as c:
        r = c.post("/cases/new/extract", data={"report_text": CT}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        _login(c, site["tokens"]["cli"])
        r = c.post("/cases/new/extract", data={"report_text": CT, "csrf_token": "forged"})
        assert r.status_code == 403 and "CSRF" in r.text


def test_the_draft_of_one_user_does_not_pass_for_another(site):
    with _client(site) as a:
        _login(a, site["tokens"]["cli"])
        values = _form_values(_paste(a, [("ct.txt", "radiology", CT)]))
    with _client(site) as b:
        _login(b, site["tokens"]["coo"])
        values["csrf_token"] = _csrf(b.get("/cases/new").text)
        before = _state(site)
        r = b.post("/cases", data=values)
        assert r.status_code == 422 and "cannot be verified" in r.text
        assert _state(site) == before


def test_every_corpus_draft_fills_the_form_so_that_an_unchanged_submit_saves_every_field_as_extracted():
    """Over every report of the extraction corpus (alone, and four at a time for conflicts across reports): the form
    filled from the draft, submitted unchanged, describes the draft's patient, so the store records every extracted
    field as extracted; and each carried draft passes the store's check (a draft it refused could never be saved)."""
    from pathlib import Path

    import mcrc
    from mcrc import extract as extraction
    from mcrc.store import extraction as xrecord
    from mcrc.web import form as pform

    files = sorted((Path(__file__).parent / "extraction").rglob("*.txt"))
    assert len(files) >= 60
    docs = [extraction.document_from_bytes(f.name, f.read_bytes()) for f in files]
    groups = [[d] for d in docs] + [docs[i:i + 4] for i in range(0, len(docs), 4)]
    filled = 0
    for group in groups:
        carried = ppaste.carried(extraction.extract(group).as_dict())
        assert xrecord.check(carried) == [], [d.name for d in group]
        dump = lambda p: mcrc.parse_patient(p).model_dump(mode="json", exclude_none=True)  # noqa: E731
        saved = dump(pform.form_to_draft(pform.draft_to_form(carried["patient"])))
        shown = {**carried, "patient": dump(carried["patient"])}
        origins = {f["field"]: f["origin"] for f in xrecord.fields(saved, shown) if f["origin"] != "conflict"}
        assert set(origins) == set(carried["provenance"])
        assert {p for p, o in origins.items() if o != "extracted"} == set(), [d.name for d in group]
        filled += len(origins)
    assert filled > 300
