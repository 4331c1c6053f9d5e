"""The bodies and answers of the REST API: the pydantic models its routes read and return, the caller a token
stands for, and how a patient body is read."""

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

import mcrc
from mcrc import strictjson
from mcrc.knowledge.reviews import MAX_COMMENT, RowReview
from mcrc.patient import PastDate, Text
from mcrc.store.api import ReviewRecord
from mcrc.store.models import DEVIATION_REASONS, PARTICIPANT_ROLES, ROLES
from mcrc.vocabulary import load_vocabulary

PREFIX = "/api/v1"


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


class RowOut(BaseModel):
    id: str
    title: str
    citations: list[dict[str, Any]]


class TableOut(BaseModel):
    id: str
    title: str
    source: str
    hit: str
    evidence: bool
    rows: list[RowOut]


class KnowledgeOut(BaseModel):
    version: str
    sources: dict[str, dict[str, Any]]
    tables: list[TableOut]


class TermOut(BaseModel):
    code: str
    label: str
    definition: str | None = None
    klass: str | None = None


class Health(BaseModel):
    status: str


_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
NON_BLANK_TEXT_PATTERN = rf"^[^{_CONTROLS}]*[^\s{_CONTROLS}][^{_CONTROLS}]*$"  # Text with one visible character


def _decision_codes() -> list[str]:
    vocab = load_vocabulary()
    return [*vocab.codes("actions"), *vocab.codes("regimens")]


def _known_code(code: str) -> str:
    if code not in set(_decision_codes()):
        raise ValueError(f"'{code}' is not an action or regimen code (see GET /api/v1/vocab)")
    return code


DecisionCode = Annotated[str, AfterValidator(_known_code),
                         Field(json_schema_extra=lambda schema: schema.update(enum=_decision_codes()))]
Role = Literal["clinician", "coordinator", "auditor", "admin"]
# a meeting participant's role: the specialty at the board (store.models.BOARD_ROLES) or, as older records have it,
# the store role
ParticipantRole = Literal["surgeon", "hepatobiliary_surgeon", "thoracic_surgeon", "colorectal_surgeon",
                          "medical_oncologist", "radiation_oncologist", "radiologist", "interventional_radiologist",
                          "pathologist", "gastroenterologist", "nuclear_medicine", "nurse_specialist",
                          "palliative_care", "geriatrician", "other", "clinician", "coordinator", "auditor", "admin"]
Deviation = Literal["patient_preference", "fitness_or_comorbidity", "new_information", "clinical_trial",
                    "resource_unavailable", "clinical_judgement", "other"]


class _DecisionBase(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    strategies: list[DecisionCode] = Field(min_length=1, max_length=50,
                                           description="Chosen action or regimen codes, in order (GET /api/v1/vocab)")
    rationale: str = Field(min_length=1, max_length=10_000, pattern=NON_BLANK_TEXT_PATTERN,
                           description="Why (free text with at least one visible character)")
    participants: dict[ParticipantRole, list[Annotated[Text, Field(min_length=1, max_length=200)]]] = Field(
        default_factory=dict, description="Names by their role at the meeting: " + ", ".join(PARTICIPANT_ROLES))
    meeting_date: PastDate | None = Field(None, description="Day of the MDT meeting (default: today, UTC)")


class ConcordantDecision(_DecisionBase):
    """The board followed the assessment."""

    concordant: Literal[True] = Field(description="The decision follows the assessment")


class DeviatingDecision(_DecisionBase):
    """The board decided otherwise; why is required."""

    concordant: Literal[False] = Field(description="The decision does not follow the assessment")
    deviation: Deviation = Field(description="Why the board deviated")
    deviation_text: Text | None = Field(None, max_length=10_000)


# The MDT's decision on a case, recorded against the case's newest assessment. A union tagged by `concordant`,
# so that the OpenAPI says what the store enforces: a deviation reason exactly when the decision deviates.
DecisionIn = Annotated[ConcordantDecision | DeviatingDecision, Field(discriminator="concordant")]
assert set(typing.get_args(Role)) == set(ROLES) and set(typing.get_args(Deviation)) == set(DEVIATION_REASONS)
assert set(typing.get_args(ParticipantRole)) == set(PARTICIPANT_ROLES)


def _row_ids() -> list[str]:
    return list(mcrc.load_knowledge().rows)


def _known_row(row: str) -> str:
    if row not in mcrc.load_knowledge().rows:
        raise ValueError(f"'{row}' is not a row of the knowledge base (see GET /api/v1/kb)")
    return row


RowId = Annotated[str, AfterValidator(_known_row),
                  Field(description="A row id of the knowledge base (GET /api/v1/kb)",
                        json_schema_extra=lambda schema: schema.update(enum=_row_ids()))]


class ReviewedMark(BaseModel):
    """The row says what its source says."""

    model_config = ConfigDict(extra="forbid", strict=True)

    row: RowId
    status: Literal["reviewed"] = Field(description="Reviewed: the row says what its source says")
    comment: Text | None = Field(None, max_length=MAX_COMMENT, description="Optional remark")


class ConcernMark(BaseModel):
    """The row may not say what its source says; why is required."""

    model_config = ConfigDict(extra="forbid", strict=True)

    row: RowId
    status: Literal["concern"] = Field(description="A concern: the row may be wrong")
    comment: str = Field(min_length=1, max_length=MAX_COMMENT, pattern=NON_BLANK_TEXT_PATTERN,
                         description="What may be wrong (free text with at least one visible character)")


# A clinician's review mark of a row, tagged by `status` (a comment is required with a concern).
ReviewMarkIn = Annotated[ReviewedMark | ConcernMark, Field(discriminator="status")]


class ReviewsOut(BaseModel):
    """The review marks made in the app and the review status of every row that results (with the knowledge
    base's own review file)."""

    kb_version: str
    reviews_from: list[Literal["knowledge", "store"]] = Field(
        description="Where the statuses were read: the knowledge base's review file, and the store's marks")
    marks: list[ReviewRecord] = Field(description="Every mark made in the app, oldest first")
    rows: dict[str, RowReview] = Field(description="The effective status of every row of the knowledge base")


class DiffEnd(BaseModel):
    assessment_id: int
    case_version: int
    kb_version: str
    engine_version: str
    created_at: str


class SectionChange(BaseModel):
    added: list[str]
    removed: list[str]


class DiffOut(BaseModel):
    """What the newer assessment adds or removes, per section, compared with the older one."""

    model_config = ConfigDict(populate_by_name=True)

    case_id: int
    from_: DiffEnd = Field(alias="from")
    to: DiffEnd
    changed: bool
    sections: dict[str, SectionChange]


PATIENT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/Patient"}}}}}


async def patient_json(request: Request) -> Any:
    """The request body through the strict reader (JsonInputError: 400 with the line, column or field path)."""
    return strictjson.loads(await request.body())

