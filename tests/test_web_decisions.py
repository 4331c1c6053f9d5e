"""The MDT decision form of the case page (issue 20 item 5, decision record 0040), through FastAPI's TestClient
against a real SQLite store: strategies and regimens offered as checkboxes from the answer shown (labels in words,
codes as values, no code typed), another treatment picked by its label, the reason in words when the board leaves
the answer, participants with roles, the decision shown in words; bad input named and nothing stored; the roles that
may not record get a clear refusal."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import mcrc
from mcrc.api import Settings, create_app
from mcrc.render.outline import shown
from mcrc.store.api import PERMISSIONS, Store
from mcrc.web import decide

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KB = mcrc.load_knowledge()
VOCAB = KB.vocabulary
LATER_LINE = "06-later-line-after-oxaliplatin-and-irinotecan.json"  # two strategies; regimens named in words
LIVER = "44-rectal-resectable-liver.json"


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'web.db'}"
    tokens: dict[str, str] = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        for name, role in {"coo": "coordinator", "cli": "clinician", "aud": "auditor"}.items():
            s.add_user(name, role, actor="adm")
            tokens[name] = s.create_token(name, label="tests").token
        cases = {}
        for name in (LATER_LINE, LIVER):
            c = s.add_case(_example(name), "coo")
            s.assess(c.id, "coo")
            cases[name] = c.id
    return {"url": url, "tokens": tokens, "cases": cases}


def _csrf(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def _signed_in(env, who: str) -> TestClient:
    c = TestClient(create_app(Settings(database_url=env["url"], secret_key="test-secret")))
    r = c.post("/login", data={"token": env["tokens"][who], "csrf_token": _csrf(c.get("/login").text), "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303
    return c


@pytest.fixture
def coo(env):
    with _signed_in(env, "coo") as c:
        yield c


def _stored(env, name: str):
    with Store(env["url"]) as s:
        cid = env["cases"][name]
        return s.decisions(cid, "coo"), mcrc.Assessment.model_validate(s.assessments(cid, "coo")[-1].assessment)


def _post(c: TestClient, cid: int, **fields):
    page = c.get(f"/cases/{cid}").text
    data = [("csrf_token", _csrf(page))]
    for key, value in fields.items():
        for v in value if isinstance(value, list) else [value]:
            data.append((key, v))
    return c.post(f"/cases/{cid}/decisions", content=urlencode(data), follow_redirects=False,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})


def _problems(r) -> list[str]:
    assert r.status_code == 422, r.text[:300]
    block = re.search(r'<ul class="problems" role="alert" id="decision-problems">(.*?)</ul>', r.text, re.S)
    assert block, "the form is shown again with its problems"
    return [html.unescape(m) for m in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)]


def _text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_every_example_offers_its_strategies_and_regimens_in_words(example):
    """For every example the form offers each strategy of the answer shown (the first marked recommended, ticking it
    records its steps' codes) and each regimen the answer names, by its vocabulary label; the other treatments are
    the vocabulary's actions and regimens that the answer does not recommend."""
    a = shown(mcrc.assess(_example(example)))
    offer = decide.choices([a], VOCAB)
    assert [c.value for c in offer.strategies] == [s.id for s in a.strategies]
    assert [c.recommended for c in offer.strategies] == [i == 0 for i in range(len(a.strategies))]
    for c, s in zip(offer.strategies, a.strategies, strict=True):
        assert c.codes == list(dict.fromkeys(x for st in s.steps for x in (st.code, *st.regimens)))
        assert c.label and c.label not in {st.code for st in s.steps}
    named = {r.code for r in a.regimens} | {x for s in a.strategies for st in s.steps for x in st.regimens} | {
        x for cs in a.current_standard for x in cs.regimens}
    assert {c.value for c in offer.regimens} == named
    for c in offer.regimens:
        assert c.label == VOCAB.get("regimens", c.value).label
    others = {code for _, terms in offer.others for code, _ in terms}
    assert not others & offer.answer_codes
    assert others | offer.answer_codes >= set(VOCAB.codes("actions")) | set(VOCAB.codes("regimens"))


def test_the_page_has_a_sticky_button_and_the_form_offers_no_code_to_type(env, coo):
    cid = env["cases"][LATER_LINE]
    text = coo.get(f"/cases/{cid}").text
    assert re.search(r'<a class="button decide-fab" id="decide-button" href="#decisions">Record the decision</a>',
                     text)
    assert 'href="/static/forms.css"' in text
    form = re.search(r'<form [^>]*id="decision-form".*?</form>', text, re.S).group(0)
    # checkboxes for strategies and regimens, labels in words; no text field takes a code
    assert re.search(r'name="strategy" value="lung.route.isolated_unresectable#1"> 1\. Palliative systemic therapy '
                     r'<span class="badge">recommended</span>', form)
    assert re.search(r'name="regimen" value="REGORAFENIB"> Regorafenib', form)
    assert 'name="extra"' not in form
    texts = re.findall(r'<input [^>]*type="text"[^>]*>', form)
    assert {re.search(r'name="([^"]+)"', t).group(1) for t in texts} == {"deviation_text", "participant_name"}
    assert 'name="participant_role"' in form and "<template class=\"participant-template\">" in form
    # who may do what, from the store's permissions
    line = _text(re.search(r'<p class="who-can" id="who-can">.*?</p>', text, re.S).group(0))
    assert "Clinicians read cases, assess them, edit patients, review knowledge-base rows;" in line
    assert "Coordinators read cases, assess them, edit patients, record board decisions;" in line
    assert "Auditors read cases, read the audit log" in line


def test_the_form_records_strategy_regimens_another_treatment_and_participants_shown_in_words(env, coo):
    cid = env["cases"][LATER_LINE]
    r = _post(coo, cid, strategy="lung.route.isolated_unresectable#1", regimen=["REGORAFENIB"],
              other="best_supportive_care" if VOCAB.has("actions", "best_supportive_care") else [],
              concordant="yes", rationale="Board agrees: regorafenib.",
              participant_name=["A. Silva", "B. Costa", ""],
              participant_role=["medical_oncologist", "hepatobiliary_surgeon", ""])
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{cid}#decisions"
    (d,), _ = _stored(env, LATER_LINE)
    assert d.strategy_codes[:2] == ["palliative_systemic_therapy", "REGORAFENIB"]
    assert d.participants == {"medical_oncologist": ["A. Silva"], "hepatobiliary_surgeon": ["B. Costa"]}
    assert d.concordant and d.deviation_code is None
    page = coo.get(f"/cases/{cid}").text
    item = re.search(r'<li class="decision".*?</li>\s*</ol>', page, re.S).group(0)
    shown_text = _text(item)
    for code in d.strategy_codes:
        label = decide.code_label(VOCAB, code)
        assert label in shown_text
        if label != code:
            assert code not in shown_text  # labels, not codes
    assert "Participants: Medical oncologist: A. Silva; Hepatobiliary surgeon: B. Costa" in shown_text
    assert "Concordant with the assessment: yes" in shown_text


def _other_code() -> str:
    """An action the later-line answer does not recommend."""
    a = shown(mcrc.assess(_example(LATER_LINE)))
    offer = decide.choices([a], VOCAB)
    return next(code for code in VOCAB.codes("actions") if code not in offer.answer_codes)


def test_another_treatment_needs_not_concordant_and_a_reason_in_words(env, coo):
    cid = env["cases"][LATER_LINE]
    other = _other_code()
    label = VOCAB.get("actions", other).label
    problems = _problems(_post(coo, cid, strategy="lung.route.isolated_unresectable#1", other=other,
                               concordant="yes", rationale="x"))
    assert f"Concordant with the assessment: the board chose {label}, which this answer does not recommend; " \
           "answer 'no' and give the reason" in problems
    assert f"Reason in words: required because the board chose {label}, which this answer does not recommend" \
        in problems
    problems = _problems(_post(coo, cid, strategy="lung.route.isolated_unresectable#1", other=other,
                               concordant="no", deviation="clinical_trial", rationale="x"))
    assert problems == [f"Reason in words: required because the board chose {label}, which this answer does not "
                        "recommend"]
    assert _stored(env, LATER_LINE)[0] == []
    r = _post(coo, cid, strategy="lung.route.isolated_unresectable#1", other=other, concordant="no",
              deviation="clinical_trial", deviation_text="Trial arm.", rationale="x")
    assert r.status_code == 303
    (d,), _ = _stored(env, LATER_LINE)
    assert other in d.strategy_codes and d.deviation_text == "Trial arm." and not d.concordant


def test_leaving_out_the_recommended_strategy_needs_a_reason_in_words(env, coo):
    cid = env["cases"][LATER_LINE]
    problems = _problems(_post(coo, cid, strategy="lung.systemic.observation#1", concordant="yes",
                               rationale="Patient wants a pause."))
    assert problems == ["Reason in words: required because the recommended strategy (Palliative systemic therapy) "
                        "was not chosen"]
    assert _stored(env, LATER_LINE)[0] == []
    r = _post(coo, cid, strategy="lung.systemic.observation#1", concordant="yes", rationale="Patient wants a pause.",
              deviation_text="Treatment break at the patient's wish; the alternative of this answer.")
    assert r.status_code == 303


@pytest.mark.parametrize(("fields", "expected"), [
    ({"regimen": "NOPE"}, "Regimens: 'NOPE' is not a regimen of this case's answer"),
    ({"regimen": "FOLFOXIRI"}, "Regimens: 'FOLFOXIRI' is not a regimen of this case's answer"),
    ({"strategy": "made.up#1"}, "Strategies: 'made.up#1' is not a strategy of this case's answer"),
    ({"other": "NOPE"}, "Another treatment: 'NOPE' is not an action or regimen of the vocabulary"),
    ({"participant_name": "A. Silva", "participant_role": ""},
     "Participant 1 (A. Silva): choose a role (surgeon, hepatobiliary surgeon, thoracic surgeon, colorectal"),
    ({"participant_name": "A. Silva", "participant_role": "butcher"},
     "Participant 1 (A. Silva): 'butcher' is not a role at the meeting (allowed: surgeon, hepatobiliary surgeon"),
    ({"participant_name": ["", "  "], "participant_role": ["", "radiologist"]},
     "Participant 2: give the participant's name"),
    ({"meeting_date": "2026-13-01"}, "Meeting date: '2026-13-01' is not a date (YYYY-MM-DD)"),
    ({"meeting_date": "2999-01-01"}, "Meeting date: 2999-01-01 is in the future"),
    ({"concordant": ""}, "Concordant with the assessment: say yes or no"),
    ({"concordant": "no"}, "Reason for deviating: choose one"),
    ({"concordant": "no", "deviation": "other"},
     "Reason in words: required because the reason for deviating is 'Other'"),
    ({"deviation": "patient_preference"}, "Reason for deviating: a concordant decision has none"),
    ({"rationale": " "}, "Rationale: required"),
    ({"strategy": [], "regimen": []}, "Chosen: tick at least one strategy or regimen, or pick another treatment"),
])
def test_bad_input_is_named_in_the_forms_words_and_nothing_is_stored(env, coo, fields, expected):
    cid = env["cases"][LATER_LINE]
    good = {"strategy": "lung.route.isolated_unresectable#1", "regimen": "REGORAFENIB", "concordant": "yes",
            "rationale": "Board agrees.", "participant_name": "A. Silva", "participant_role": "medical_oncologist"}
    r = _post(coo, cid, **{**good, **fields})
    problems = _problems(r)
    assert any(p.startswith(expected) for p in problems), problems
    assert "Traceback" not in r.text
    assert _stored(env, LATER_LINE)[0] == []
    # the form comes back as it was filled, in the open panel
    assert 'class="card decisions decide-panel open" id="decisions"' in r.text
    if fields.get("participant_name") == "A. Silva":
        assert 'value="A. Silva"' in r.text


@pytest.mark.parametrize("who", ["cli", "aud"])
def test_roles_that_may_not_record_are_told_so_and_refused(env, who):
    assert who not in PERMISSIONS["decide"]
    cid = env["cases"][LIVER]
    with _signed_in(env, who) as c:
        page = c.get(f"/cases/{cid}").text
        assert 'id="decision-form"' not in page
        assert "Only a coordinator records decisions" in page
        assert re.search(r'id="decide-button" href="#decisions">Decisions \(0\)</a>', page)
        r = c.post(f"/cases/{cid}/decisions", data={"csrf_token": _csrf(page), "strategy": "x", "concordant": "yes",
                                                    "rationale": "x"})
    assert r.status_code == 403 and "Traceback" not in r.text
    assert "is not allowed to decide: only a coordinator records the board&#39;s decision" in r.text
    assert _stored(env, LIVER)[0] == []
