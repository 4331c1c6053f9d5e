"""A citation: a source document, where in it (table, figure, section), and the footnote when one is meant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Citation:
    source: str
    where: str
    footnote: str | None = None

    def text(self) -> str:
        fn = f", footnote {self.footnote}" if self.footnote else ""
        return f"{self.source} {self.where}{fn}"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "where": self.where, "footnote": self.footnote}
