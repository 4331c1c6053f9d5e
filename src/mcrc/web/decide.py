"""The MDT decision form of the case page (issue 20 item 5, decision record 0040).

What the board may tick is built from the answer: its strategies (in words, the ids as values) and the regimens it
names (labels in words, codes as values), plus any other action or regimen of the vocabulary picked from a list by
its label; nothing is typed as a code. The form's input is checked here, in the words of the form, before the store
checks it again with its own rules (a deviation reason when not concordant, roles of the participants):

- at least one choice;
- a strategy or regimen that is not the answer's, or a value that is no vocabulary code, is refused by name;
- a choice the answer does not recommend makes the decision not concordant;
- the reason in words is required when the board chose something the answer does not recommend, left out the
  recommended strategy, or gave "Other" as the reason for deviating;
- participants are name and role pairs; a name without a role, a role without a name or a role the store does not
  know is refused, naming the row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mcrc.engine import Assessment
from mcrc.store.api import PERMISSIONS
from mcrc.store.models import BOARD_ROLES, DEVIATION_REASONS, PARTICIPANT_ROLES, ROLES
from mcrc.vocabulary import Vocabulary

ROLE_LABELS = {"clinician": "Clinician", "coordinator": "Coordinator", "auditor": "Auditor", "admin": "Administrator"}
# a participant's role at the meeting, in words (older records name a store role)
PARTICIPANT_LABELS = {**BOARD_ROLES, **ROLE_LABELS}
MAX_NAME = 200  # as the API allows for a participant's name
# what the page says each role may do, in this order (from PERMISSIONS, so it cannot drift from what is enforced)
_CAN = (("read_case", "read cases"), ("assess_case", "assess them"), ("update_case", "edit patients"),
        ("review_row", "review knowledge-base rows"), ("decide", "record board decisions"),
        ("read_audit", "read the audit log"), ("manage_users", "manage users and tokens"))


def who_can_what() -> list[tuple[str, str]]:
    """(role label, what it may do in words) for every role, from the store's PERMISSIONS."""
    out = []
    for role in ROLES:
        can = [words for perm, words in _CAN if role in PERMISSIONS[perm]]
        out.append((ROLE_LABELS.get(role, role), ", ".join(can) if can else "nothing on this page"))
    return out


def code_label(vocab: Vocabulary, code: str) -> str:
    """A decision code in words: the action's or regimen's label (the code itself when the vocabulary has none)."""
    for section in ("actions", "regimens"):
        if vocab.has(section, code):
            return vocab.get(section, code).label
    return code


@dataclass
class Choice:
    value: str  # strategy id or regimen code
    label: str
    codes: list[str] = field(default_factory=list)  # what ticking it records
    recommended: bool = False
    detail: str | None = None


@dataclass
class Choices:
    strategies: list[Choice]
    regimens: list[Choice]
    others: list[tuple[str, list[tuple[str, str]]]]  # (group label, [(code, label)]) of codes not in the answer
    answer_codes: set[str]  # every code the answer recommends

    @property
    def recommended(self) -> Choice | None:
        return self.strategies[0] if self.strategies else None


def _strategy_label(s: Any) -> str:
    return s.label or " → ".join(st.label for st in s.steps)


def choices(answers: list[Assessment], vocab: Vocabulary) -> Choices:
    """What the form offers for these answers (the one shown first; a POST passes the strict and the provisional
    answer, so a form opened on either view is accepted)."""
    strategies: dict[str, Choice] = {}
    regimens: dict[str, Choice] = {}
    answer: set[str] = set()

    def add_regimen(code: str, label: str | None = None, detail: str | None = None) -> None:
        answer.add(code)
        if code not in regimens:
            regimens[code] = Choice(code, label or code_label(vocab, code), [code], detail=detail)

    for a in answers:
        for n, s in enumerate(a.strategies):
            codes = list(dict.fromkeys(c for st in s.steps for c in (st.code, *st.regimens)))
            answer.update(codes)
            if s.id not in strategies:
                strategies[s.id] = Choice(s.id, _strategy_label(s), codes, recommended=(n == 0 and a is answers[0]))
        for s in a.strategies:
            for st in s.steps:
                for code in st.regimens:
                    add_regimen(code)
        for r in a.regimens:
            add_regimen(r.code, r.label, "with a caveat" if r.caveats else None)
        for cs in a.current_standard:
            for code in cs.regimens:
                add_regimen(code, detail="current standard")
        for item in (*a.first_steps, *a.local_treatment):
            if vocab.has("actions", item.code):
                answer.add(item.code)
    others = [(title, [(c, vocab.get(section, c).label) for c in vocab.codes(section) if c not in answer])
              for title, section in (("Actions", "actions"), ("Regimens", "regimens"))]
    return Choices(list(strategies.values()), list(regimens.values()), others, answer)


@dataclass
class DecisionInput:
    """The decision form, as posted (kept to show the form again) and as the store takes it."""

    strategies: list[str]
    regimens: list[str]
    others: list[str]
    concordant: str
    deviation: str
    deviation_text: str
    rationale: str
    meeting_date: str
    participants: list[tuple[str, str]]  # (name, role) rows as posted, blank rows included

    @classmethod
    def from_form(cls, form: Any) -> DecisionInput:
        def texts(name: str) -> list[str]:
            return [v for v in form.getlist(name) if isinstance(v, str)]

        def text(name: str) -> str:
            v = form.get(name)
            return v if isinstance(v, str) else ""

        names, roles = texts("participant_name"), texts("participant_role")
        rows = [(names[i] if i < len(names) else "", roles[i] if i < len(roles) else "")
                for i in range(max(len(names), len(roles)))]
        return cls(strategies=texts("strategy"), regimens=texts("regimen"), others=[v for v in texts("other") if v],
                   concordant=text("concordant"), deviation=text("deviation"), deviation_text=text("deviation_text"),
                   rationale=text("rationale"), meeting_date=text("meeting_date"), participants=rows)

    def values(self) -> dict[str, Any]:
        """What the template needs to show the form again as it was filled."""
        return {"strategy": self.strategies, "regimen": self.regimens, "other": self.others,
                "concordant": self.concordant, "deviation": self.deviation, "deviation_text": self.deviation_text,
                "rationale": self.rationale, "meeting_date": self.meeting_date, "participants": self.participants}


@dataclass
class Checked:
    codes: list[str]
    participants: dict[str, list[str]]
    meeting: dt.date | None
    problems: list[str]


def check(d: DecisionInput, offered: Choices, vocab: Vocabulary) -> Checked:
    """The codes to record, the participants by role and the problems, each in the words of the form."""
    problems: list[str] = []
    by_id = {c.value: c for c in offered.strategies}
    by_code = {c.value: c for c in offered.regimens}
    codes: list[str] = []
    for sid in d.strategies:
        if sid in by_id:
            codes += by_id[sid].codes
        else:
            problems.append(f"Strategies: '{sid[:80]}' is not a strategy of this case's answer (the answer may have "
                            "changed: reload the page)")
    for code in d.regimens:
        if code in by_code:
            codes.append(code)
        else:
            problems.append(f"Regimens: '{code[:80]}' is not a regimen of this case's answer; choose it under "
                            "'Another treatment' if the board chose it")
    outside: list[str] = []
    for code in d.others:
        if not (vocab.has("actions", code) or vocab.has("regimens", code)):
            problems.append(f"Another treatment: '{code[:80]}' is not an action or regimen of the vocabulary")
            continue
        codes.append(code)
        if code not in offered.answer_codes:
            outside.append(code_label(vocab, code))
    codes = list(dict.fromkeys(codes))
    if not d.strategies and not d.regimens and not d.others:
        problems.append("Chosen: tick at least one strategy or regimen, or pick another treatment")
    if d.concordant not in ("yes", "no"):
        problems.append("Concordant with the assessment: say yes or no")
    if d.concordant == "yes" and outside:
        problems.append(f"Concordant with the assessment: the board chose {', '.join(outside)}, which this answer "
                        "does not recommend; answer 'no' and give the reason")
    if d.concordant == "no" and not d.deviation:
        problems.append("Reason for deviating: choose one (" + "; ".join(DEVIATION_REASONS.values()) + ")")
    if d.deviation and d.deviation not in DEVIATION_REASONS:
        problems.append(f"Reason for deviating: '{d.deviation[:80]}' is not one of the reasons offered")
    if d.concordant == "yes" and d.deviation:
        problems.append("Reason for deviating: a concordant decision has none; clear it or answer 'no'")
    rec = offered.recommended
    why = []
    if outside:
        why.append(f"the board chose {', '.join(outside)}, which this answer does not recommend")
    if rec is not None and (d.strategies or d.regimens or d.others) and rec.value not in d.strategies:
        why.append(f"the recommended strategy ({rec.label}) was not chosen")
    if d.deviation == "other":
        why.append("the reason for deviating is 'Other'")
    if why and not d.deviation_text.strip():
        problems.append("Reason in words: required because " + " and ".join(why))
    if not d.rationale.strip():
        problems.append("Rationale: required (why the board decided this, in a sentence)")
    meeting = None
    if d.meeting_date:
        try:
            meeting = dt.date.fromisoformat(d.meeting_date)
        except ValueError:
            problems.append(f"Meeting date: '{d.meeting_date[:40]}' is not a date (YYYY-MM-DD)")
        else:
            if meeting > dt.date.today():
                problems.append(f"Meeting date: {meeting.isoformat()} is in the future")
    people: dict[str, list[str]] = {}
    allowed = ", ".join(BOARD_ROLES[r].lower() for r in BOARD_ROLES)
    for n, (name, role) in enumerate(d.participants, start=1):
        name = name.strip()
        if not name and not role:
            continue
        who = f"Participant {n}" + (f" ({name[:40]})" if name else "")
        if not name:
            problems.append(f"{who}: give the participant's name")
        elif len(name) > MAX_NAME:
            problems.append(f"{who}: the name is longer than {MAX_NAME} characters")
        if not role:
            problems.append(f"{who}: choose a role ({allowed})")
        elif role not in PARTICIPANT_ROLES:
            problems.append(f"{who}: '{role[:40]}' is not a role at the meeting (allowed: {allowed})")
        if name and role in PARTICIPANT_ROLES and len(name) <= MAX_NAME:
            people.setdefault(role, []).append(name)
    return Checked(codes, people, meeting, problems)
