"""The case store (issue 7): cases, versioned assessments, MDT decisions, hash-chained audit log.

    from mcrc.store import Store
    store = Store("sqlite:///mcrc.db")      # or postgresql+psycopg://user:pw@host/db, or MCRC_DATABASE_URL
    store.upgrade()                           # alembic upgrade head
    store.add_user("ana", "clinician")        # the first user needs no admin
    case = store.add_case(patient_dict, user="ana")
    store.assess(case.id, user="ana"); store.diff(case.id, user="ana")
    store.verify_chain(); store.export_audit_fhir(user="auditor")
    store.audit_head().line                   # keep it elsewhere; verify_chain(anchors) checks the log still has it
    new = store.create_token("ana", label="laptop"); new.token   # the raw API token, shown only here
    store.mark_row("lung.goal.ned", "reviewed", user="ana")   # a clinician's review of a row (audited)
    store.review_book()                       # every row's review status: reviews.yaml and the marks
    store.resolve_token(new.token)            # TokenUser(name='ana', role='clinician'); None once revoked
"""

from mcrc.store.api import (
    PERMISSIONS,
    AssessmentRecord,
    CaseRecord,
    ChainReport,
    DecisionRecord,
    ExtractionRecord,
    Finding,
    HeadRecord,
    NewToken,
    ReviewRecord,
    Store,
    TokenRecord,
)
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreInvalid, StoreNotFound
from mcrc.store.models import DEVIATION_REASONS, ROLES

__all__ = [
    "DEVIATION_REASONS", "PERMISSIONS", "ROLES", "AssessmentRecord", "CaseRecord", "ChainReport", "DecisionRecord",
    "ExtractionRecord", "Finding", "HeadRecord", "NewToken", "ReviewRecord", "Store", "StoreConflict", "StoreError",
    "StoreForbidden", "StoreInvalid", "StoreNotFound", "TokenRecord",
]
