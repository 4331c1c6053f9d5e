"""`mcrc kb sources`: every citable source with its kind, edition and year, and for a guideline the newer editions
known (sources.yaml, cited to evidence-2026's currency table; decision record 0033)."""

from __future__ import annotations

from typing import Any

from mcrc.knowledge.model import KnowledgeBase

RELATION_TEXT = {"edition": "newer edition", "later_guideline": "later guideline (not an edition of this source)"}


def sources_view(kb: KnowledgeBase) -> list[dict[str, Any]]:
    out = []
    for sid, body in kb.sources.items():
        newer = [{"name": e["name"], "year": e["year"], "relation": e["relation"], "known": e.get("known"),
                  "cite": e["cite"] if isinstance(e["cite"], list) else [e["cite"]]}
                 for e in body.get("newer_editions") or []]
        out.append({"source": sid, "title": body.get("title") or sid, "kind": body.get("kind"),
                    "edition": body.get("edition"), "year": body.get("year"), "note": body.get("currency_note"),
                    "newer_editions": newer})
    return out


def _year(year: int | None) -> str:
    return str(year) if year is not None else "year not stated"


def _cites(cites: list[dict]) -> str:
    return "; ".join(f"{c['source']} {c['where']}" for c in cites)


def render_sources_text(view: list[dict[str, Any]]) -> str:
    lines = []
    for s in view:
        lines.append(f"{s['source']} [{s['kind']}] {s['title']}")
        if s["kind"] != "project":
            lines.append(f"  edition: {s['edition']}")
            lines.append(f"  year: {_year(s['year'])}")
        if s["kind"] == "guideline":
            if s["note"]:
                lines.append(f"  note: {s['note']}")
            if not s["newer_editions"]:
                lines.append("  newer editions known: none")
            for e in s["newer_editions"]:
                lines.append(f"  {RELATION_TEXT[e['relation']]}: {e['name']} ({e['year']}) [{_cites(e['cite'])}]")
                if e["known"]:
                    lines.append(f"    known: {e['known']}")
        lines.append("")
    return "\n".join(lines)


def render_sources_markdown(view: list[dict[str, Any]]) -> str:
    lines = ["| source | kind | edition | year | newer editions known (check the current text) |",
             "|---|---|---|---|---|"]
    for s in view:
        newer = "; ".join(f"{e['name']} ({e['year']}" + (", later guideline" if e["relation"] == "later_guideline"
                                                         else "") + ")" for e in s["newer_editions"])
        if s["kind"] == "guideline" and not newer:
            newer = "none known"
        if s["note"]:
            newer = f"{newer} ({s['note']})" if newer else s["note"]
        cells = [f"`{s['source']}`", s["kind"] or "", s["edition"] or "", _year(s["year"]) if s["kind"] != "project"
                 else "", newer or "-"]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
