"""The traceability matrix of one source as text, Markdown or JSON (`mcrc kb trace SOURCE`), and the summary of
every source (`mcrc kb trace`). One reading of the matrix feeds all three: `source_view`."""

from __future__ import annotations

from typing import Any

from mcrc.knowledge.model import KnowledgeBase
from mcrc.knowledge.trace import REASONS, Statement, unlisted_citations, untraced_rows

KIND_LABEL = {"rows": "row", "definitions": "definition", "invariants": "invariant", "caveats": "caveat"}


def _target_title(kb: KnowledgeBase, kind: str, name: str) -> str | None:
    """The title of what a statement names, or None when it does not exist (`mcrc verify` fails on it)."""
    if kind == "rows":
        row = kb.rows.get(name)
        return row.title if row else None
    if kind == "definitions":
        d = kb.definitions.items.get(name)
        return d.text if d else None
    pool = kb.invariants if kind == "invariants" else kb.caveats
    item = next((x for x in pool if x.id == name), None)
    if item is None:
        return None
    if getattr(item, "text", None):
        return item.text
    return f"{kb.vocabulary.get('warnings', item.code).label} (caveat on {item.id.replace('_', ' ')})" \
        if kb.vocabulary.has("warnings", item.code) else item.id


def statement_view(kb: KnowledgeBase, s: Statement) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id, "where": s.where, "paraphrase": s.paraphrase, "status": s.status}
    if s.note:
        out["note"] = s.note
    if s.encoded:
        out["encoded_by"] = [{"kind": KIND_LABEL[kind], "id": name, "title": _target_title(kb, kind, name),
                              "exists": _target_title(kb, kind, name) is not None} for kind, name in s.targets()]
    if s.set_aside is not None:
        out["set_aside"] = {"reason": s.set_aside.reason, "note": s.set_aside.note, "see": list(s.set_aside.see)}
    return out


def source_view(kb: KnowledgeBase, source: str) -> dict[str, Any]:
    st = kb.trace.sources[source]
    return {
        "source": source, "title": (kb.sources.get(source) or {}).get("title") or source, "files": list(st.files),
        "note": st.note, "counts": st.counts(),
        "sections": [{"title": sec.title, "statements": [statement_view(kb, s) for s in sec.statements]}
                     for sec in st.sections],
        "untraced_rows": (untraced := untraced_rows(kb, source)),
        "unlisted_citations": (unlisted := unlisted_citations(kb, source)),
        "reverse": reverse_counts(kb, source, untraced, unlisted),
    }


def reverse_counts(kb: KnowledgeBase, source: str, untraced: list[dict[str, Any]] | None = None,
                   unlisted: list[dict[str, Any]] | None = None) -> dict[str, int]:
    """The reverse direction, informational: how many rows the source's tables hold, how many of them (or of the
    rows citing the source) no statement of its matrix names, how many of those another source's statements
    name, and how many citations of the source name a place where the matrix lists no statement."""
    untraced = untraced_rows(kb, source) if untraced is None else untraced
    unlisted = unlisted_citations(kb, source) if unlisted is None else unlisted
    return {"table_rows": sum(len(t.rows) for t in kb.tables if t.source == source),
            "rows_not_named": len(untraced),
            "named_by_other_sources": sum(1 for u in untraced if u["statements_elsewhere"]),
            "citations_unlisted": len(unlisted)}


def reverse_line(rev: dict[str, int]) -> str:
    return (f"rows in its tables {rev['table_rows']} · rows no statement of this matrix names "
            f"{rev['rows_not_named']} ({rev['named_by_other_sources']} named by another source's statements) · "
            f"citations of a place with no statement {rev['citations_unlisted']}")


def counts_line(counts: dict[str, Any]) -> str:
    reasons = ", ".join(f"{r} {n}" for r, n in counts["by_reason"].items() if n)
    text = (f"statements {counts['statements']} · encoded {counts['encoded']} · set aside {counts['set_aside']}"
            + (f" ({reasons})" if reasons else "") + f" · open {counts['open']}")
    return text + (f" · UNMAPPED {counts['unmapped']}" if counts["unmapped"] else "")


def _encoding_lines(v: dict[str, Any]) -> list[str]:
    lines = []
    for t in v.get("encoded_by", []):
        title = t["title"] if t["exists"] else "DOES NOT EXIST"
        lines.append(f"{t['kind']} {t['id']}: {title}")
    if "set_aside" in v:
        sa = v["set_aside"]
        label = "OPEN" if sa["reason"] == "open" else f"set aside ({sa['reason']})"
        see = f" (see {', '.join(sa['see'])})" if sa["see"] else ""
        lines.append(f"{label}: {sa['note']}{see}")
    if v["status"] == "unmapped":
        lines.append("UNMAPPED: neither rows nor a reason")
    return lines


def render_trace_text(view: dict[str, Any]) -> str:
    lines = [f"{view['source']} - {view['title']}"]
    if view["files"]:
        lines.append(f"files: {', '.join(view['files'])}")
    lines += [counts_line(view["counts"]), reverse_line(view["reverse"]) + " (informational)", ""]
    for sec in view["sections"]:
        lines += [f"== {sec['title']}", ""]
        for v in sec["statements"]:
            lines.append(f"{v['id']}  [{v['where']}]")
            lines.append(f"  {v['paraphrase']}")
            lines += [f"  -> {x}" for x in _encoding_lines(v)]
            if v.get("note"):
                lines.append(f"  note: {v['note']}")
            lines.append("")
    if view["untraced_rows"]:
        lines += ["== Rows of this source that no statement of this matrix names (informational)",
                  "   (fallbacks and project readings, rows encoding another source's statement, or a matrix lagging "
                  "behind its tables)", ""]
        lines += [f"{u['row']}" + (f"  (named by {', '.join(u['statements_elsewhere'])})"
                                   if u["statements_elsewhere"] else "") for u in view["untraced_rows"]]
    if view["unlisted_citations"]:
        lines += ["", "== Citations of this source naming a place where the matrix lists no statement (informational)",
                  ""]
        lines += [f"{u['cited_by']}: {_place(u)}" for u in view["unlisted_citations"]]
    return "\n".join(lines).rstrip() + "\n"


def _place(u: dict[str, Any]) -> str:
    return f"\"{u['where']}\"" + (f", footnote {u['footnote']}" if u["footnote"] else "")


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def render_trace_markdown(view: dict[str, Any]) -> str:
    c = view["counts"]
    lines = [f"# Traceability matrix: {view['source']}", "", view["title"], ""]
    if view["files"]:
        lines += [f"Files: {', '.join(f'`{f}`' for f in view['files'])}", ""]
    if view["note"]:
        lines += [view["note"], ""]
    lines += ["| statements | encoded | set aside | open | unmapped |", "|---|---|---|---|---|",
              f"| {c['statements']} | {c['encoded']} | {c['set_aside']} | {c['open']} | {c['unmapped']} |", ""]
    reasons = [f"{r} {n}" for r, n in c["by_reason"].items() if n]
    if reasons:
        lines += [f"Set aside by reason: {', '.join(reasons)}.", ""]
    lines += [f"Reverse direction (informational): {reverse_line(view['reverse'])}.", ""]
    for sec in view["sections"]:
        lines += [f"## {sec['title']}", "", "| id | where | statement | encoded by, or why not |", "|---|---|---|---|"]
        for v in sec["statements"]:
            enc = "<br>".join(_cell(x) for x in _encoding_lines(v))
            text = _cell(v["paraphrase"]) + (f" _({_cell(v['note'])})_" if v.get("note") else "")
            lines.append(f"| {v['id']} | {_cell(v['where'])} | {text} | {enc} |")
        lines.append("")
    if view["untraced_rows"]:
        lines += ["## Rows of this source that no statement of this matrix names", "",
                  "Informational: fallbacks and project readings, rows encoding another source's statement, or a "
                  "matrix lagging behind its tables.", ""]
        lines += [f"- `{u['row']}`" + (f" (named by {', '.join(u['statements_elsewhere'])})"
                                       if u["statements_elsewhere"] else "") for u in view["untraced_rows"]]
        lines.append("")
    if view["unlisted_citations"]:
        lines += ["## Citations of this source naming a place where the matrix lists no statement", "",
                  "Informational: a place name the source does not use, or a matrix lagging behind.", ""]
        lines += [f"- {u['cited_by'].split(' ')[0]} `{u['cited_by'].split(' ', 1)[1]}`: {_cell(_place(u))}"
                  for u in view["unlisted_citations"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def summary_rows(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """One entry per source with a matrix: its counts (the README's table)."""
    return [{"source": sid, "files": list(kb.trace.sources[sid].files), **kb.trace.sources[sid].counts(),
             "reverse": reverse_counts(kb, sid)}
            for sid in kb.trace.sources]


def render_summary_text(rows: list[dict[str, Any]]) -> str:
    lines = [f"{r['source']}: {counts_line(r)}\n  {reverse_line(r['reverse'])}" for r in rows]
    return "\n".join(lines) + "\n" if lines else "no traceability matrix\n"


def render_summary_markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| source | files | statements | encoded | set aside with a reason | open (not encoded yet) "
             "| rows no statement names (informational) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        reasons = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in r["by_reason"].items() if n)
        files = ", ".join(f.split("_")[0] for f in r["files"])
        lines.append(f"| `{r['source']}` | {files} | {r['statements']} | {r['encoded']} | {r['set_aside']}"
                     + (f" ({reasons})" if reasons else "") + f" | {r['open']} | {r['reverse']['rows_not_named']} "
                     f"of {r['reverse']['table_rows']} |")
    total = {k: sum(r[k] for r in rows) for k in ("statements", "encoded", "set_aside", "open")}
    lines.append(f"| all | | {total['statements']} | {total['encoded']} | {total['set_aside']} | {total['open']} "
                 f"| {sum(r['reverse']['rows_not_named'] for r in rows)} of "
                 f"{sum(r['reverse']['table_rows'] for r in rows)} |")
    return "\n".join(lines) + "\n"


__all__ = ["REASONS", "render_summary_markdown", "render_summary_text", "render_trace_markdown",
           "render_trace_text", "source_view", "summary_rows"]
