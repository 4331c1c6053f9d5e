"""The draft as people read it in a terminal: one row per filled field, then conflicts and what was not placed."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table


def _value(value: Any) -> str:
    if isinstance(value, dict) and "unit" in value:
        return f"{value['value']:g} {value['unit']}"
    return json.dumps(value) if not isinstance(value, str) else value


def draft_tables(draft: dict[str, Any]) -> list[Table | str]:
    """Rich renderables for a draft (`Draft.as_dict()`)."""
    out: list[Table | str] = []
    docs = ", ".join(f"{d['name']} ({d['type']})" for d in draft["documents"])
    table = Table(title=f"Draft patient from {docs}", show_lines=False, expand=False)
    several = len(draft["documents"]) > 1
    for col in ("field", "value", "confidence", *(("document",) if several else ()), "source words (characters)"):
        table.add_column(col, overflow="fold")
    for path, src in draft["provenance"].items():
        where = (src["document"],) if several else ()
        table.add_row(path, _value(_get(draft["patient"], path)), src["confidence"], *where,
                      f"{src['text']!r} ({src['start']}-{src['end']})")
    out.append(table if draft["provenance"] else "Nothing was extracted.")
    if draft["conflicts"]:
        conflicts = Table(title="Conflicts (left empty: settle them before use)")
        for col in ("field", "values and their sources", "why"):
            conflicts.add_column(col, overflow="fold")
        for c in draft["conflicts"]:
            values = "; ".join(f"{_value(v['value'])} ({v['document']}: {v['text']!r})" for v in c["values"])
            conflicts.add_row(c["field"], values, c["reason"])
        out.append(conflicts)
    if draft["unmapped"]:
        out.append(f"{len(draft['unmapped'])} mention(s) read but not used (negated, hypothetical, family, "
                   "uncertain or not placeable); -o writes them with their reasons.")
    out.append("This is a draft: a clinician checks every field against the reports before it is used.")
    return out


def _get(target: Any, path: str) -> Any:
    import re

    for part in re.findall(r"[A-Za-z_][A-Za-z_0-9]*|\[\d+\]", path):
        target = target[int(part[1:-1])] if part.startswith("[") else target.get(part)
        if target is None:
            return None
    return target
