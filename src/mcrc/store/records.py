"""The records the store hands back: cases, assessments, decisions, review marks, extractions and tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from mcrc.knowledge.reviews import ReviewEntry


@dataclass(frozen=True)
class CaseRecord:
    id: int
    label: str | None
    version: int
    patient: dict[str, Any]
    schema_version: str
    content_hash: str
    deleted: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class AssessmentRecord:
    id: int
    case_id: int
    case_version: int
    kb_version: str
    engine_version: str
    input_hash: str
    created_at: str
    assessment: dict[str, Any]


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    case_id: int
    assessment_id: int
    meeting_date: str
    strategy_codes: list[str]
    rationale: str
    concordant: bool
    deviation_code: str | None
    deviation_text: str | None
    participants: dict[str, list[str]]
    decided_by: str
    created_at: str


@dataclass(frozen=True)
class ReviewRecord:
    """A clinician's review mark of a knowledge-base row, as the store keeps it (`date` is the UTC day)."""

    id: int
    row: str
    status: str
    comment: str | None
    reviewer: str
    role: str
    date: str
    created_at: str
    kb_version: str
    row_version: str

    def entry(self) -> ReviewEntry:
        """The mark as a review entry of the knowledge base's format (`reviews.yaml`)."""
        return ReviewEntry(row=self.row, status=self.status, role=self.role,  # type: ignore[arg-type]
                           reviewer=self.reviewer, date=dt.date.fromisoformat(self.date), kb_version=self.kb_version,
                           row_version=self.row_version, comment=self.comment, source="store")


@dataclass(frozen=True)
class ExtractionRecord:
    """Which fields of a case version came from report text and who confirmed them (decision record 0046)."""

    id: int
    case_id: int
    case_version: int
    documents: list[dict[str, Any]]
    fields: list[dict[str, Any]]  # {field, origin (extracted, clinician, conflict), value, extracted | conflict}
    confirmed_by: str
    confirmed_at: str


@dataclass(frozen=True)
class TokenRecord:
    """What the store keeps about a token: never the token, not even its digest."""

    id: int
    user: str
    label: str | None
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class NewToken:
    """A token just created: `token` is the only copy of the raw value, shown once."""

    record: TokenRecord
    token: str = field(repr=False)


class TokenUser(NamedTuple):
    name: str
    role: str

