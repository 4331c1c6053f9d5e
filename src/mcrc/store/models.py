"""Tables of the case store (SQLAlchemy 2, typed). Migrations in `migrations/versions` create them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("clinician", "coordinator", "auditor", "admin")
# the roles a participant of a tumour board meeting has there (its specialty), beside the store's user roles, which
# records made before these existed used (decision record 0040)
BOARD_ROLES = {
    "surgeon": "Surgeon", "hepatobiliary_surgeon": "Hepatobiliary surgeon", "thoracic_surgeon": "Thoracic surgeon",
    "colorectal_surgeon": "Colorectal surgeon", "medical_oncologist": "Medical oncologist",
    "radiation_oncologist": "Radiation oncologist", "radiologist": "Radiologist",
    "interventional_radiologist": "Interventional radiologist", "pathologist": "Pathologist",
    "gastroenterologist": "Gastroenterologist", "nuclear_medicine": "Nuclear medicine physician",
    "nurse_specialist": "Nurse specialist", "palliative_care": "Palliative care physician",
    "geriatrician": "Geriatrician", "other": "Other",
}
PARTICIPANT_ROLES = (*BOARD_ROLES, *ROLES)
DEVIATION_REASONS = {
    "patient_preference": "The patient chose otherwise",
    "fitness_or_comorbidity": "Performance status or comorbidity",
    "new_information": "Information the assessment did not have",
    "clinical_trial": "Enrolled in or eligible for a clinical trial",
    "resource_unavailable": "Treatment or expertise not available",
    "clinical_judgement": "The board's clinical judgement",
    "other": "Other (see text)",
}
GENESIS_HASH = "0" * 64
REVIEW_MARKS = ("reviewed", "concern")  # what a clinician may say about a knowledge-base row (issue 17)

JsonType = JSON().with_variant(JSONB(), "postgresql")
Stamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(Stamp)
    # signing out of the web page ends every session cookie of the user issued until then (cookies are not stored)
    sessions_ended_at: Mapped[dt.datetime | None] = mapped_column(Stamp)


class ApiToken(Base):
    """An API token, kept only as the sha256 digest of the raw token (shown once, when created)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Stamp)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str | None] = mapped_column(String(64), index=True)
    patient: Mapped[dict[str, Any]] = mapped_column(JsonType)
    schema_version: Mapped[str] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)
    updated_at: Mapped[dt.datetime] = mapped_column(Stamp)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(Stamp)


class AssessmentRow(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_version: Mapped[int] = mapped_column(Integer)
    assessment: Mapped[dict[str, Any]] = mapped_column(JsonType)
    content_hash: Mapped[str] = mapped_column(String(64))
    kb_version: Mapped[str] = mapped_column(String(64))
    engine_version: Mapped[str] = mapped_column(String(32))
    input_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class MdtMeeting(Base):
    __tablename__ = "mdt_meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    held_on: Mapped[dt.date] = mapped_column(Date, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class Decision(Base):
    __tablename__ = "decisions"
    __table_args__ = (
        CheckConstraint("concordant OR deviation_code IS NOT NULL", name="ck_decisions_deviation"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("mdt_meetings.id"))
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"))
    strategy_codes: Mapped[list[str]] = mapped_column(JsonType)
    rationale: Mapped[str] = mapped_column(Text)
    concordant: Mapped[bool] = mapped_column(Boolean)
    deviation_code: Mapped[str | None] = mapped_column(String(32))
    deviation_text: Mapped[str | None] = mapped_column(Text)
    participants: Mapped[dict[str, list[str]]] = mapped_column(JsonType)
    decided_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class RowReviewMark(Base):
    """A clinician's review of one knowledge-base row, made in the app (issue 17): reviewed, or a concern with a
    comment; against the row's version and the knowledge base's. Written once (triggers refuse UPDATE and DELETE);
    `mcrc kb reviews export` writes them in the format of the knowledge base's reviews.yaml."""

    __tablename__ = "row_reviews"
    __table_args__ = (
        CheckConstraint(f"status IN {REVIEW_MARKS!r}", name="ck_row_reviews_status"),
        CheckConstraint("status <> 'concern' OR comment IS NOT NULL", name="ck_row_reviews_comment"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_id: Mapped[str] = mapped_column(String(128), index=True)
    row_version: Mapped[str] = mapped_column(String(32))
    kb_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(Stamp)


class CaseExtraction(Base):
    """Which fields of a case version came from report text (issue 22, decision record 0046): one row per version
    saved from a draft that extraction filled, written with the version and its `extraction.confirm` audit entry
    (the confirming user and time). `fields`: one entry per field the draft filled or left in conflict, with the
    value saved, its origin (extracted: saved as read; clinician: changed or cleared before saving; conflict: the
    reports disagreed) and the document, span, sentence and confidence it was read from. Written once (triggers
    refuse UPDATE and DELETE)."""

    __tablename__ = "case_extractions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_version: Mapped[int] = mapped_column(Integer)
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    confirmed_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[dt.datetime] = mapped_column(Stamp)


class AuditEntry(Base):
    """Append-only (triggers refuse UPDATE and DELETE); each entry hashes its predecessor."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded: Mapped[dt.datetime] = mapped_column(Stamp)
    user_name: Mapped[str] = mapped_column(String(64))
    user_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    before_hash: Mapped[str | None] = mapped_column(String(64))
    after_hash: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """One row: the last sequence number and hash. Writers lock it, which serialises the chain."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
