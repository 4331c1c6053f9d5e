"""Facts: the flat, typed record the rules read. `None` means unknown."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from mcrc.catalog import FACTS


@dataclass(frozen=True)
class Facts:
    values: dict[str, Any]
    ned_date: dt.date | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def known(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if v is not None}

    def unknown(self) -> list[str]:
        return [k for k, v in self.values.items() if v is None]

    @classmethod
    def of(cls, ned_date: dt.date | None = None, **values: Any) -> Facts:
        """Build Facts directly (tests, cohort rows, verification); unlisted facts are unknown."""
        unknown_names = set(values) - set(FACTS)
        if unknown_names:
            raise KeyError(f"unknown fact(s): {', '.join(sorted(unknown_names))}")
        for name, value in values.items():
            if value is not None and not FACTS[name].accepts(value):
                raise ValueError(f"fact {name}: {value!r} not in domain ({FACTS[name].allowed()})")
        full = dict.fromkeys(FACTS)
        full.update(values)
        return cls(values=full, ned_date=ned_date)
