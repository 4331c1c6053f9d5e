"""MDT decisions on a case's newest assessment, and the meetings they were taken at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

import mcrc
from mcrc.errors import Problem
from mcrc.store import audit
from mcrc.store.base import _Chain, _now
from mcrc.store.cases import CasesMixin
from mcrc.store.errors import StoreInvalid, StoreNotFound, StoreNotReady
from mcrc.store.models import DEVIATION_REASONS, PARTICIPANT_ROLES, AssessmentRow, Decision, MdtMeeting, User
from mcrc.store.records import DecisionRecord
from mcrc.store.refusals import _nul_problems
from mcrc.store.states import _decision_state


class DecisionsMixin(CasesMixin):
    """MDT decisions: record one (coordinators only) and list those of a case."""

    def decide(self, case_id: int, *, strategies: Iterable[str], rationale: str, concordant: bool, user: str,
               deviation: str | None = None, deviation_text: str | None = None,
               participants: dict[str, list[str]] | None = None,
               meeting_date: dt.date | None = None) -> DecisionRecord:
        """Record the MDT's decision on the case's newest assessment (coordinators only)."""
        codes = list(strategies)
        problems = self._decision_problems(codes, rationale, concordant, deviation, participants or {},
                                           deviation_text)
        if problems:
            raise StoreInvalid(problems)
        held_on = meeting_date or _now().date()

        def work(s: Session, chain: _Chain) -> DecisionRecord:
            u = self._user(s, user)
            self._allow(u, "decide", f"case {case_id}")
            case = self._case(s, case_id, u, lock=True)
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            last = s.execute(select(AssessmentRow).where(AssessmentRow.case_id == case_id)
                             .order_by(AssessmentRow.id.desc()).limit(1)).scalar_one_or_none()
            if last is None or last.case_version != case.version:
                raise StoreNotReady([Problem(f"case {case_id}", "has no assessment of its current version; "
                                                               "assess it before recording a decision")])
            meeting = s.execute(select(MdtMeeting).where(MdtMeeting.held_on == held_on)).scalar_one_or_none()
            if meeting is None:
                meeting = MdtMeeting(held_on=held_on, created_at=_now())
                s.add(meeting)
                s.flush()
            d = Decision(case_id=case_id, meeting_id=meeting.id, assessment_id=last.id, strategy_codes=codes,
                         rationale=rationale, concordant=concordant, deviation_code=deviation,
                         deviation_text=deviation_text, participants=participants or {}, decided_by=u.id,
                         created_at=_now())
            s.add(d)
            s.flush()
            self._checkpoint("entity_written")
            chain.append(u, "decision.create", "decision", d.id, None, _decision_state(d, held_on))
            return self._decision_record(d, held_on, u.name)

        return self._write(work)

    @staticmethod
    def _decision_problems(codes: list[str], rationale: str, concordant: bool, deviation: str | None,
                           participants: dict[str, list[str]], deviation_text: str | None = None) -> list[Problem]:
        problems: list[Problem] = []
        vocab = mcrc.load_knowledge().vocabulary.terms
        known = set(vocab["actions"]) | set(vocab["regimens"])
        if not codes:
            problems.append(Problem("strategy", "at least one chosen strategy code is required"))
        for code in codes:
            if code not in known:
                problems.append(Problem("strategy", f"'{code}' is not an action or regimen code",
                                        "see `mcrc vocab`"))
        if not rationale or not rationale.strip():
            problems.append(Problem("rationale", "a free-text rationale is required"))
        if concordant and deviation:
            problems.append(Problem("deviation", "a concordant decision has no deviation reason"))
        if not concordant and not deviation:
            problems.append(Problem("deviation", "required when the decision is not concordant",
                                    ", ".join(DEVIATION_REASONS)))
        if deviation and deviation not in DEVIATION_REASONS:
            problems.append(Problem("deviation", f"'{deviation}' is not a deviation reason",
                                    ", ".join(DEVIATION_REASONS)))
        for role in participants:
            if role not in PARTICIPANT_ROLES:
                problems.append(Problem("participants", f"'{role}' is not a participant role",
                                        ", ".join(PARTICIPANT_ROLES)))
        problems += _nul_problems(rationale=rationale, deviation_text=deviation_text, participants=participants)
        return problems

    @staticmethod
    def _decision_record(d: Decision, held_on: dt.date, by: str) -> DecisionRecord:
        return DecisionRecord(id=d.id, case_id=d.case_id, assessment_id=d.assessment_id,
                              meeting_date=held_on.isoformat(), strategy_codes=list(d.strategy_codes),
                              rationale=d.rationale, concordant=d.concordant, deviation_code=d.deviation_code,
                              deviation_text=d.deviation_text, participants=d.participants, decided_by=by,
                              created_at=audit.utc_text(d.created_at))

    def decisions(self, case_id: int, user: str) -> list[DecisionRecord]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            self._case(s, case_id, u)
            q = (select(Decision, MdtMeeting.held_on, User.name).join(MdtMeeting).join(User)
                 .where(Decision.case_id == case_id).order_by(Decision.id))
            return [self._decision_record(d, held, by) for d, held, by in s.execute(q)]
