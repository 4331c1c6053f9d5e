"""Report text to a draft Patient (issue 22; decision record 0045; docs/extraction.md).

`extract(documents)` reads pathology, radiology and referral-letter text with rules kept as data (rules/*.yaml)
on a blank spaCy pipeline with medspaCy's sentence splitter, target matcher, ConText and section detection, and
answers a `Draft`: a Patient dictionary that `mcrc.parse_patient` accepts, each filled field's provenance (document,
character span, sentence, confidence), the conflicts left unresolved and what was read but not placed. spaCy and
medspaCy are imported on the first call only (`mcrc extract`, `POST /api/v1/extract`), never by other commands.
"""

from __future__ import annotations

from mcrc.extract.documents import (
    MAX_BYTES,
    Document,
    DocumentError,
    document_from_bytes,
    document_from_text,
)

__all__ = ["MAX_BYTES", "Document", "DocumentError", "document_from_bytes", "document_from_text", "extract"]


def extract(documents, today=None):  # type: ignore[no-untyped-def]
    """Extract a draft Patient from documents (see `mcrc.extract.engine.extract`)."""
    from mcrc.extract.engine import extract as _extract

    return _extract(documents, today=today)
