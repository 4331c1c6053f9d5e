"""The knowledge base for an assistant: a row's conditions in words, a row explained, rows and statements found."""

from __future__ import annotations

import re
from typing import Any

from mcrc.engine.branches import value_words
from mcrc.facts.catalog import FACTS
from mcrc.knowledge import KnowledgeBase
from mcrc.knowledge.expr import And, Cmp, Eq, In, Known, Not, Or
from mcrc.knowledge.model import SECTIONS as OUTPUT_SECTIONS

# ---- conditions in words ---------------------------------------------------------------------------------------

_OPS = {"lt": "less than", "le": "at most", "gt": "more than", "ge": "at least", "ne": "not"}


def _fact_words(fact: str) -> str:
    spec = FACTS.get(fact)
    return f"{spec.doc} [{fact}]" if spec else fact


def condition_words(e: Any) -> str:
    """A row condition in words: each fact's meaning from the fact catalog, its code in brackets."""
    if isinstance(e, Eq):
        return f"{_fact_words(e.fact)}: {value_words(e.value)}"
    if isinstance(e, In):
        return f"{_fact_words(e.fact)}: one of {', '.join(value_words(v) for v in e.values)}"
    if isinstance(e, Cmp):
        return f"{_fact_words(e.fact)}: {_OPS[e.op]} {value_words(e.value)}"
    if isinstance(e, Known):
        return f"{_fact_words(e.fact)}: {'known' if e.known else 'not known'}"
    if isinstance(e, And):
        return "always" if not e.items else " AND ".join(f"({condition_words(i)})" for i in e.items)
    if isinstance(e, Or):
        return " OR ".join(f"({condition_words(i)})" for i in e.items)
    if isinstance(e, Not):
        return f"NOT ({condition_words(e.item)})"
    return str(e)  # pragma: no cover - the condition tree has no other node


def _label(kb: KnowledgeBase, section: str, code: str) -> str:
    return kb.vocabulary.get(section, code).label if kb.vocabulary.has(section, code) else code


def row_view(kb: KnowledgeBase, row_id: str) -> dict[str, Any]:
    row = kb.rows[row_id]
    table = kb.table(row.table_id)
    review = kb.review_of(row.id)
    cites = [{"source": c.source, "title": (kb.sources.get(c.source) or {}).get("title") or c.source,
              "where": c.where, "footnote": c.footnote} for c in row.citations]
    strategies = []
    for s in row.strategies:
        steps = []
        for st in s.steps:
            step: dict[str, Any] = {"code": st.code, "label": _label(kb, "actions", st.code)}
            if st.months is not None:
                step["months"] = st.months
            if st.max_months is not None:
                step["max_months"] = st.max_months
            if st.every_months is not None:
                step["every_months"] = st.every_months
            if st.regimens:
                step["regimens"] = [{"code": r, "label": _label(kb, "regimens", r)} for r in st.regimens]
            if st.note:
                step["note"] = st.note
            steps.append(step)
        strategies.append({"label": s.label, "steps": steps, "note": s.note,
                           "citations": [c.as_dict() for c in s.citations]})
    outputs = {section: [{"code": i.code, "label": _label(kb, OUTPUT_SECTIONS.get(section, section), i.code),
                          **({"note": i.note} if i.note else {}),
                          **({"citations": [c.as_dict() for c in i.citations]} if i.citations else {})}
                         for i in items]
               for section, items in row.outputs.items()}
    statements = [{"id": s.id, "source": s.source, "where": s.where, "paraphrase": s.paraphrase}
                  for s in kb.trace.statements_of_row(row.id)]
    return {
        "id": row.id, "title": row.title, "file": f"{row.file}:{row.line}",
        "table": {"id": table.id, "title": table.title, "source": table.source, "hit_policy": table.hit},
        "default_row": row.default,
        "conditions": [] if row.default else [c.text() for c in row.conditions()],
        "conditions_in_words": ("fires when no other row of its table fires" if row.default
                                else [condition_words(c) for c in row.conditions()]),
        "note": row.note, "strategies": strategies, "outputs": outputs, "citations": cites,
        "source_statements": statements,
        "version": row.version,
        "clinical_review": review.status,
    }


def row_text(v: dict[str, Any]) -> str:
    lines = [f"Row {v['id']} ({v['file']}) in table {v['table']['id']} ({v['table']['hit_policy']} hit): "
             f"{v['table']['title']}", f"Situation: {v['title']}"]
    if v["default_row"]:
        lines.append("When: " + v["conditions_in_words"])
    else:
        lines.append("When all of:")
        lines += [f"  - {w}" for w in v["conditions_in_words"]]
    if v["note"]:
        lines.append(f"Note: {v['note']}")
    for i, s in enumerate(v["strategies"], start=1):
        head = f"Strategy {i}" + (f" ({s['label']})" if s["label"] else "")
        lines.append(f"{head}: " + " -> ".join(st["label"] for st in s["steps"]))
    for section, items in v["outputs"].items():
        lines.append(f"{section}: " + "; ".join(f"{i['label']} [{i['code']}]" for i in items))
    lines += [f"Cites: {c['title']} [{c['source']}], {c['where']}" + (f", footnote {c['footnote']}"
                                                                      if c["footnote"] else "")
              for c in v["citations"]]
    lines += [f"Encodes source statement {s['id']} ({s['where']}): {s['paraphrase']}"
              for s in v["source_statements"]]
    lines.append(f"Clinical review: {v['clinical_review'].replace('_', ' ')} (row version {v['version']})")
    return "\n".join(lines)


# ---- search ----------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[\w.+-]+")


def query_words(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)]


def search(kb: KnowledgeBase, query: str, limit: int) -> tuple[list[dict], list[dict], bool]:
    """Rows and source statements containing every word of the query (case-insensitive), the most mentions first."""
    words = query_words(query)
    rows, statements = [], []
    for row in kb.rows.values():
        labels = " ".join(_label(kb, s, c) for s in ("actions", "regimens", "warnings", "tests", "goals",
                                                      "considerations", "referrals") for c in row.codes()
                          if kb.vocabulary.has(s, c))
        text = " ".join([row.id, row.title, row.note or "", " ".join(row.codes()), labels,
                         " ".join(c.text() for c in row.citations)]).lower()
        if all(w in text for w in words):
            rows.append((sum(text.count(w) for w in words), {"id": row.id, "table": row.table_id,
                                                             "title": row.title}))
    for s in kb.trace.statements():
        text = " ".join([s.id, s.source, s.section, s.where, s.paraphrase, s.note or ""]).lower()
        if all(w in text for w in words):
            statements.append((sum(text.count(w) for w in words),
                               {"id": s.id, "source": s.source, "section": s.section, "where": s.where,
                                "paraphrase": s.paraphrase, "status": s.status, "rows": list(s.rows)}))
    truncated = len(rows) > limit or len(statements) > limit
    rows.sort(key=lambda x: -x[0])
    statements.sort(key=lambda x: -x[0])
    return [r for _, r in rows[:limit]], [s for _, s in statements[:limit]], truncated

