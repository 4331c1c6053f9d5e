"""What each kind of audit entry vouches for: the state of a record whose hash the entry keeps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcrc.store import audit
from mcrc.store.models import ApiToken, AssessmentRow, Case, CaseExtraction, Decision, RowReviewMark, User


def _case_state(c: Case, content_hash: str | None = None) -> dict[str, Any]:
    """What a case entry vouches for. Before a change, pass the hash recomputed from the stored patient JSON: an
    edit of the JSON alone then shows as a break between the previous entry and this one (not laundered)."""
    return {"id": c.id, "version": c.version, "deleted": c.deleted, "content_hash": content_hash or c.content_hash,
            "schema_version": c.schema_version, "label": c.label}


def _assessment_state(a: AssessmentRow) -> dict[str, Any]:
    return {"id": a.id, "case_id": a.case_id, "case_version": a.case_version, "content_hash": a.content_hash,
            "kb_version": a.kb_version, "engine_version": a.engine_version, "input_hash": a.input_hash}


def _decision_state(d: Decision, held_on: dt.date | None) -> dict[str, Any]:
    """What a decision entry vouches for, with the date of its meeting (moving a meeting changes what the decision
    says; meetings have no entries of their own). Entries before schema 0004 lack the date (see verify_chain)."""
    return {"id": d.id, "case_id": d.case_id, "assessment_id": d.assessment_id, "meeting_id": d.meeting_id,
            "meeting_date": held_on.isoformat() if held_on else None,
            "strategy_codes": list(d.strategy_codes), "rationale": d.rationale, "concordant": d.concordant,
            "deviation_code": d.deviation_code, "deviation_text": d.deviation_text,
            "participants": d.participants, "decided_by": d.decided_by}


def _review_state(m: RowReviewMark) -> dict[str, Any]:
    """What a review entry vouches for: the whole mark, its time included (when a row was reviewed is part of what
    the review says)."""
    return {"id": m.id, "row_id": m.row_id, "row_version": m.row_version, "kb_version": m.kb_version,
            "status": m.status, "comment": m.comment, "user_id": m.user_id, "role": m.role,
            "created_at": audit.utc_text(m.created_at)}


def _extraction_state(x: CaseExtraction) -> dict[str, Any]:
    """What an extraction entry vouches for: the whole record, its time included."""
    return {"id": x.id, "case_id": x.case_id, "case_version": x.case_version, "documents": x.documents,
            "fields": x.fields, "confirmed_by": x.confirmed_by, "confirmed_at": audit.utc_text(x.confirmed_at)}


def _token_state(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "user_id": t.user_id, "label": t.label, "digest": t.digest, "revoked": t.revoked_at is not None}


def _user_state(u: User) -> dict[str, Any]:
    """What every user entry vouches for (create, deactivate, sign_out, rebaseline: one shape). The sign-out instant
    is part of it: moving it back would revive session cookies issued before the sign-out."""
    return {"id": u.id, "name": u.name, "role": u.role, "deactivated": u.deactivated_at is not None,
            "sessions_ended": audit.utc_text(u.sessions_ended_at) if u.sessions_ended_at else None}
