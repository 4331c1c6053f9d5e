"""`POST /api/v1/extract`: report text in, a draft Patient out, each filled field with the words it came from.

Nothing is stored: the answer is a draft for a clinician to check (the web page's "paste reports" panel fills the
new-case form from it). `provenance` is keyed by the Patient JSON path the form uses (`biomarkers.kras`,
`metastases[0].largest_size.value`), each with the document, character span, sentence and confidence
(explicit / inferred). `conflicts` lists fields left empty because the reports disagree (or the Patient model refused
them together); `unmapped` what was read but not used and why (negated, hypothetical, family, uncertain...).
Errors are RFC 9457 problems: 422 for an empty, binary or oversized document or a body of the wrong shape; 413 for a
body above the server's limit. Authentication is the same dependency as `POST /api/v1/assess`.
"""

# No `from __future__ import annotations`: FastAPI must see the `auth` dependency as an object.
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from mcrc.api.errors import responses
from mcrc.extract.documents import TEXT_PATTERN

PATH = "/api/v1/extract"
MAX_DOCUMENTS = 20


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
                      description="What the report is called (a file name); provenance names it")
    type: Literal["auto", "pathology", "radiology", "letter"] | None = Field(
        default=None, description="pathology, radiology, letter; auto or absent: decided from the text")
    # the pattern states what extraction refuses (no control characters but tab, line feed and carriage return; not
    # empty or blank); it is checked by mcrc.extract.documents, whose messages say which document and why
    text: str = Field(description="The report as plain text (at most 5 MB; the server's body limit applies first)",
                      json_schema_extra={"pattern": TEXT_PATTERN, "minLength": 1})


class ExtractIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: list[ReportIn] = Field(min_length=1, max_length=MAX_DOCUMENTS)


class SourceOut(BaseModel):
    document: str
    start: int = Field(description="Character offset of the words in the document's text")
    end: int
    sentence: str
    confidence: Literal["explicit", "inferred"]
    rule: str
    text: str


class ExtractOut(BaseModel):
    patient: dict[str, Any] = Field(description="The draft Patient (valid for POST /api/v1/assess)")
    provenance: dict[str, SourceOut] = Field(description="Per filled field (Patient JSON path): where it came from")
    conflicts: list[dict[str, Any]] = Field(description="Fields left empty: the reports disagree, or the Patient "
                                                        "model refused the values together")
    unmapped: list[dict[str, Any]] = Field(description="Mentions read but not used, each with the reason")
    documents: list[dict[str, Any]] = Field(description="Each document's name and kind (as given or detected)")


def extract_router(auth: Callable[..., Any]) -> APIRouter:
    router = APIRouter(tags=["extract"])

    @router.post(PATH, response_model=ExtractOut, responses=responses(400, 401, 413, 422, 500),
                 summary="Extract a draft patient from report text (nothing stored)")
    def extract_reports(body: ExtractIn, _: Annotated[Any, Depends(auth)]) -> Any:
        from mcrc import extract as extraction  # spaCy/medspaCy load on the first call, not at start-up

        documents = [extraction.document_from_text(d.name, d.text, d.type) for d in body.documents]  # 422 if bad
        return extraction.extract(documents).as_dict()

    return router


__all__ = ["PATH", "ExtractIn", "ExtractOut", "extract_router"]
