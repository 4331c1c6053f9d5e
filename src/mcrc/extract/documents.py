"""A report handed to extraction, and the checks every entry point makes before reading it.

Bad input is refused with a specific message naming the document, and nothing is extracted: empty text (or only
white space), binary data (NUL bytes or mostly control characters), bytes that are not UTF-8, more than MAX_BYTES.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcrc.errors import InputError, Problem

MAX_BYTES = 5 * 1024 * 1024  # per document, and for all documents of one request together
KINDS = ("pathology", "radiology", "letter")
# control characters other than tab, line feed and carriage return (as in the Patient's free text): report text
# has none; a file with NUL bytes or such characters is binary data, not a report. Page breaks (form feed,
# vertical tab) in a file are read as line breaks, one character for one, so spans stay where they were.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_VISIBLE = re.compile(r"[^\s\ufeff]")
# the same two rules as one JSON Schema pattern (ECMA-262), for the API's description of `text`
TEXT_PATTERN = ("^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*"
                "[^\\s\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\ufeff]"
                "[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$")


class DocumentError(InputError):
    """A document cannot be read as report text; nothing was extracted."""

    headline = "unreadable report"


@dataclass(frozen=True)
class Document:
    name: str
    text: str
    kind: str | None = None  # pathology, radiology, letter; None: decided from the text ("auto")


def _check_kind(name: str, kind: str | None) -> str | None:
    if kind in (None, "", "auto"):
        return None
    if kind not in KINDS:
        raise DocumentError([Problem(f"{name}: type", f"'{kind}' is not a kind of report",
                                     "auto, " + ", ".join(KINDS))])
    return kind


def document_from_text(name: str, text: str, kind: str | None = None) -> Document:
    """A document from text already decoded (the API's JSON body)."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_BYTES:
        raise DocumentError([Problem(name, f"more than {MAX_BYTES // (1024 * 1024)} MB of text; split the report")])
    if _CONTROL.search(text):
        raise DocumentError([Problem(name, "contains control characters: this is binary data, not report text "
                                           "(give the report as plain text)")])
    if not _VISIBLE.search(text):
        raise DocumentError([Problem(name, "the report is empty")])
    return Document(name, text, _check_kind(name, kind))


def document_from_bytes(name: str, data: bytes, kind: str | None = None) -> Document:
    """A document from a file's bytes: UTF-8 text (a byte-order mark is dropped), nothing else."""
    if len(data) > MAX_BYTES:
        raise DocumentError([Problem(name, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB; split the "
                                           "report")])
    if b"\x00" in data[:8192]:
        raise DocumentError([Problem(name, "this is a binary file, not report text (save the report as plain "
                                           "text, e.g. .txt)")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError([Problem(name, f"not UTF-8 text (byte {exc.start} cannot be read); save the report as "
                                           "UTF-8 plain text")]) from None
    text = text.removeprefix("\ufeff").replace("\x0c", "\n").replace("\x0b", "\n")
    return document_from_text(name, text, kind)
