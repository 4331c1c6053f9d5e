"""Count the pages of a PDF in tests (the web and browser tests both check that a download has pages)."""

import re
import zlib


def pdf_pages(data: bytes) -> int:
    """Page objects in a PDF, looking inside compressed object streams too."""
    chunks = [data]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            chunks.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-z])", c)) for c in chunks)
