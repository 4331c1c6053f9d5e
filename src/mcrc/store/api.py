"""The case store: cases, versioned assessments, MDT decisions and a hash-chained audit log, behind one `Store`.

`Store` puts together one part per aggregate (users and tokens, cases, assessments, decisions, review marks, the
audit chain, the schema), all working in the one unit of work of `mcrc.store.base`: every write runs in one
transaction together with its audit entry (both or neither), see there.
"""

from __future__ import annotations

from mcrc.store.assessments import DIFF_SECTIONS, AssessmentsMixin
from mcrc.store.base import PERMISSIONS
from mcrc.store.case_export import EXPORT_FORMAT, CaseExportMixin
from mcrc.store.cases import CasesMixin
from mcrc.store.chain import SCHEMA_ENTITY, AuditChainMixin, ChainReport, Finding, HeadRecord
from mcrc.store.decisions import DecisionsMixin
from mcrc.store.records import (
    AssessmentRecord,
    CaseRecord,
    DecisionRecord,
    ExtractionRecord,
    NewToken,
    ReviewRecord,
    TokenRecord,
    TokenUser,
)
from mcrc.store.reviews import ReviewsMixin
from mcrc.store.schema import SchemaMixin
from mcrc.store.users import MAX_TOKEN_CHARS, TOKEN_PREFIX, UsersMixin, token_digest

__all__ = [
    "DIFF_SECTIONS", "EXPORT_FORMAT", "MAX_TOKEN_CHARS", "PERMISSIONS", "SCHEMA_ENTITY", "TOKEN_PREFIX",
    "AssessmentRecord", "CaseRecord", "ChainReport", "DecisionRecord", "ExtractionRecord", "Finding", "HeadRecord",
    "NewToken", "ReviewRecord", "Store", "TokenRecord", "TokenUser", "token_digest",
]


class Store(UsersMixin, CaseExportMixin, AssessmentsMixin, DecisionsMixin, CasesMixin, ReviewsMixin, AuditChainMixin,
            SchemaMixin):
    """Small public API over the case store. `url`: SQLAlchemy URL (default MCRC_DATABASE_URL or sqlite:///mcrc.db)."""
