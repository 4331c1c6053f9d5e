"""The CDS Hooks cards: patient-view cards from an Assessment (current standard, recommendation, missing tests with
draft orders, warnings) and order-select cards from the safety check of draft orders, each citing its rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import mcrc
from mcrc.fhir.orders import DraftOrder, Finding, OptionGap, check_orders, citation_rows, option_gaps
from mcrc.fhir.read import ReadResult
from mcrc.fhir.write import CODE_SYSTEM
from mcrc.knowledge import KnowledgeBase
from mcrc.render.outline import (
    SCOPE_TEXT,
    branch_lines,
    currency_cites,
    currency_text,
    current_standard_head,
    current_standard_lines,
    emergency_leads,
    review_marker,
    review_summary,
    shown,
)

SUMMARY_MAX = 139  # the spec: summary "<140 characters"
_MAX_ITEMS_IN_CARD = 8


@dataclass(frozen=True)
class Links:
    """Absolute URLs of the web pages cards point to (the page contract of issue 8)."""

    base: str

    def kb_row(self, row_id: str | None) -> str:
        return f"{self.base}/kb#row-{row_id}" if row_id else f"{self.base}/kb"

    def case_list(self) -> str:
        return f"{self.base}/"

    def new_case(self) -> str:
        return f"{self.base}/cases/new"

    def case(self, case_id: int) -> str:
        return f"{self.base}/cases/{case_id}"


def _shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cite(citations: Any) -> str:
    parts = []
    for c in citations:
        s = f"{c.source}, {c.where}"
        if c.footnote:
            s += f" (footnote {c.footnote})"
        parts.append(s)
    return "; ".join(parts)


def _bullet(label: str, citations: list[Any], review: str = "") -> str:
    cite = _cite(citations)
    return f"- {label}" + (f" — *{cite}*" if cite else "") + (f" ({review})" if review else "")


def _reviewed(a: Any, item: Any) -> str:
    """Whether the rows behind an item (or a strategy) were clinically reviewed, in a few words."""
    rows = item.rows if hasattr(item, "rows") else [item.row]
    return review_marker(a, item.review, rows)


def _sources(*groups: list[Any]) -> list[str]:
    seen: list[str] = []
    for citations in groups:
        for c in citations:
            if c.source not in seen:
                seen.append(c.source)
    return seen


def _strategy_text(s: Any) -> str:
    steps = " → ".join(st.label for st in s.steps)
    return s.label or steps or s.id


def _links(links: Links, row: str | None) -> list[dict[str, str]]:
    out = [{"label": "Open mcrc (case list)", "url": links.case_list(), "type": "absolute"},
           {"label": "Enter this patient as an mcrc case", "url": links.new_case(), "type": "absolute"}]
    if row:
        out.append({"label": f"Knowledge base row {row}", "url": links.kb_row(row), "type": "absolute"})
    return out


def _card(summary: str, indicator: str, detail: str, source_label: str, links: Links, row: str | None,
          suggestions: list[dict[str, Any]] | None = None, selection: str = "at-most-one") -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": _shorten(summary),
        "indicator": indicator,
        "detail": detail,
        "source": {"label": _shorten(source_label, 200), "url": links.kb_row(row)},
        "links": _links(links, row),
    }
    if suggestions:
        card["suggestions"] = suggestions
        card["selectionBehavior"] = selection
    return card


def _service_request(test_code: str, label: str, patient_id: str | None, why: str) -> dict[str, Any]:
    """A draft ServiceRequest for a missing test (validated as FHIR R4B)."""
    from fhir.resources.R4B.servicerequest import ServiceRequest

    res: dict[str, Any] = {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "proposal",
        "code": {"coding": [{"system": CODE_SYSTEM, "code": test_code, "display": label}], "text": label},
        "subject": {"reference": f"Patient/{patient_id or 'unknown'}"},
        "note": [{"text": why[:1000]}],
    }
    return ServiceRequest.model_validate(res).model_dump(mode="json", exclude_none=True)


def _order_test(test_code: str, label: str, patient_id: str | None, why: str) -> dict[str, Any]:
    return {"label": _shorten(f"Order {label}", 120), "uuid": str(uuid.uuid4()),
            "actions": [{"type": "create", "description": f"Draft order: {label}",
                         "resource": _service_request(test_code, label, patient_id, why)}]}


def _is_emergency(a: Any) -> bool:
    if emergency_leads(a):
        return True
    return bool(a.strategies and a.strategies[0].steps and a.strategies[0].steps[0].action_class == "emergency")


def build_cards(a: Any, links: Links, read_warnings: list[str] | None = None,
                patient_id: str | None = None) -> list[dict[str, Any]]:
    """The patient-view cards for one Assessment: the current standard where an approved newer option differs
    from the guideline answer (first, indicator warning), then the recommendation, missing tests (orderable),
    warnings. Where presumptions were used the cards show the provisional answer, its summary marked as such and
    its assumptions first in the detail; the branches on what is still unknown follow the strategies."""
    full, a = a, shown(a)
    cards: list[dict[str, Any]] = []
    if a.current_standard and not emergency_leads(a):  # an emergency's card leads (it follows below otherwise)
        cards.append(_current_standard_card(a, links))
    goal_cits = a.goal.citations if a.goal else []
    first = a.strategies[0] if a.strategies else None

    if first is not None:
        summary = f"{a.goal.label}: {_strategy_text(first)}" if a.goal else _strategy_text(first)
    elif a.goal is not None:
        summary = a.goal.label
    elif a.referrals:
        summary = a.referrals[0].label
    else:
        summary = f"mcrc: {a.scope.reason or 'no recommendation'}"
    lines: list[str] = []
    if full.provisional is not None:
        summary = f"Provisional: {summary}"
        lines += ["**Provisional answer: it assumes what the record does not say**", ""]
        lines += [_bullet(f"assumed: {x.assumed}", x.citations) for x in full.provisional.assumptions]
        goal = f"; goal: {full.goal.label}" if full.goal else ""
        lines += ["", f"*Strict answer, nothing assumed: {SCOPE_TEXT[full.scope.status]}{goal}.*", ""]
    if a.goal:
        lines += ["**Goal**", "", _bullet(a.goal.label, a.goal.citations, _reviewed(a, a.goal)), ""]
    if a.first_steps:
        lines += ["**First steps**", ""] + [_bullet(i.label, i.citations, _reviewed(a, i)) for i in a.first_steps]
        lines += [""]
    if a.strategies:
        lines += ["**Strategies, in order**", ""]
        for n, s in enumerate(a.strategies, 1):
            steps = " → ".join(st.label for st in s.steps)
            head = f"{n}. {s.label + ': ' if s.label else ''}{steps}"
            cite = _cite(s.citations)
            lines.append(head + (f" — *{cite}*" if cite else "") + f" ({_reviewed(a, s)})")
        lines.append("")
    if a.branches:
        lines += ["**To settle at this board**", ""]
        for n, b in enumerate(a.branches, 1):
            lines.append(f"{n}. {b.question}")
            lines += [f"   - {line}" for line in branch_lines(b)]
        lines.append("")
    if a.regimens:
        lines += ["**Regimen options**", ""]
        for r in a.regimens[:_MAX_ITEMS_IN_CARD]:
            lines.append(_bullet(r.label, r.citations, _reviewed(a, r)))
            lines += [f"  - ⚠ {c.label}" for c in r.caveats]  # the option's caveat travels with it
        lines.append("")
    if a.referrals:
        lines += ["**Referrals**", ""] + [_bullet(i.label, i.citations, _reviewed(a, i)) for i in a.referrals]
        lines += [""]
    if not a.goal and not a.strategies and a.possible:
        lines += ["**Possible once more facts are known**", ""]
        for p in a.possible[:_MAX_ITEMS_IN_CARD]:
            lines.append(_bullet(f"{p.title} (needs: {', '.join(p.needs)})", p.citations))
        lines.append("")
    if a.scope.status != "in_scope" and a.scope.reason:
        lines += [f"*Scope: {a.scope.status} — {a.scope.reason}*", ""]
    if a.current_standard:
        lines += ["*An approved newer option differs from this guideline answer: see the current-standard card.*", ""]
    if a.currency:
        lines += ["**Guideline currency**", ""] + [_bullet(currency_text(c), currency_cites(c)) for c in a.currency]
        lines += [""]
    summary_line, _ = review_summary(a)
    if summary_line:
        lines += [f"**Clinical review**: {summary_line}.", ""]
        concerns = [f"- ⚠ CONCERN on row {row} ({rv.role}, {rv.date}): {rv.comment}"
                    for row, rv in a.reviews.items() if rv.status == "concern"]
        lines += [*concerns, ""] if concerns else []
    indicator = "critical" if _is_emergency(a) else ("warning" if a.warnings else "info")
    strat_cits = [c for s in a.strategies for c in s.citations]
    first_cits = [c for i in a.first_steps for c in i.citations]
    ref_cits = [c for i in a.referrals for c in i.citations]
    row = first.row if first else (a.goal.rows[0] if a.goal and a.goal.rows else
                                   (a.referrals[0].rows[0] if a.referrals and a.referrals[0].rows else None))
    label = "mcrc: " + (", ".join(_sources(goal_cits, first_cits, strat_cits, ref_cits)) or "guidelines")
    cards.append(_card(summary, indicator, "\n".join(lines).strip(), label, links, row))
    if a.current_standard and emergency_leads(a):
        cards.append(_current_standard_card(a, links))

    if a.tests:
        detail = "\n".join(_bullet(t.label, t.citations, _reviewed(a, t)) for t in a.tests)
        n = len(a.tests)
        suggestions = [_order_test(t.code, t.label, patient_id, f"mcrc: {_cite(t.citations)}") for t in a.tests]
        t_row = next((t.rows[0] for t in a.tests if t.rows), None)
        cards.append(_card(f"{n} test{'s' if n > 1 else ''} missing: {', '.join(t.label for t in a.tests)}",
                           "info", detail, "mcrc: " + ", ".join(_sources(*(t.citations for t in a.tests))),
                           links, t_row, suggestions, selection="any"))
    if a.warnings or read_warnings:
        detail_lines = [_bullet(w.label, w.citations, _reviewed(a, w)) for w in a.warnings]
        detail_lines += [f"- FHIR record: {w}" for w in (read_warnings or [])]
        labels = [w.label for w in a.warnings] + list(read_warnings or [])
        w_row = next((w.rows[0] for w in a.warnings if w.rows), None)
        cards.append(_card(f"Warning: {labels[0]}" if len(labels) == 1 else f"{len(labels)} warnings: {labels[0]}",
                           "warning", "\n".join(detail_lines),
                           "mcrc: " + (", ".join(_sources(*(w.citations for w in a.warnings))) or "FHIR record"),
                           links, w_row))
    return by_indicator(cards)


_INDICATOR_RANK = {"critical": 0, "warning": 1, "info": 2}


def by_indicator(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Critical cards first, then warnings, then information (CDS Hooks: the indicator is the urgency); the
    order within one indicator is kept."""
    return sorted(cards, key=lambda c: _INDICATOR_RANK.get(c["indicator"], 3))


def _current_standard_card(a: Any, links: Links) -> dict[str, Any]:
    """One card (indicator warning) for the approved newer options that differ from the guideline answer: shown
    beside that answer, which the next card gives unchanged."""
    items = a.current_standard
    heads = [current_standard_head(cs) for cs in items]
    summary = (f"Current standard differs from the guideline: {heads[0]}" if len(items) == 1 else
               f"{len(items)} approved newer options differ from the guideline: {'; '.join(heads)}")
    lines = ["An approved newer option differs from what the guideline sources recommend for this patient. It is "
             "shown beside the guideline answer (the next card, unchanged), not instead of it.", ""]
    for cs in items:
        lines.append(_bullet(f"**{current_standard_head(cs)}**", cs.citations, _reviewed(a, cs)))
        lines += [f"  - {line}" for line in current_standard_lines(cs)]
        lines += [f"  - ⚠ {c.label}" for c in cs.caveats]
    row = next((cs.rows[0] for cs in items if cs.rows), None)
    label = "mcrc: newer evidence (" + ", ".join(dict.fromkeys(cs.source for cs in items)) + ")"
    return _card(summary, "warning", "\n".join(lines), label, links, row)


# ---- order-select --------------------------------------------------------------------------------
def _drug_names(kb: KnowledgeBase, drugs: frozenset[str]) -> str:
    v = kb.vocabulary
    return ", ".join(v.get("drugs", d).label if v.has("drugs", d) else d for d in sorted(drugs)) or "none"


def _fact_text(name: str, value: Any) -> str:
    shown = "unknown" if value is None else (str(value).lower() if isinstance(value, bool) else value)
    return f"{name} = {shown}"


def _finding_card(kb: KnowledgeBase, f: Finding, links: Links, patient_id: str) -> dict[str, Any]:
    inv = f.invariant
    names = ", ".join(o.label for o in f.orders)
    rows = citation_rows(kb, inv.citations)
    classes = set(inv.classes) | set(inv.selector.drug_class if inv.selector else ())
    v = kb.vocabulary
    about = [r for r in rows if any(v.has("regimens", c) and v.regimen_drug_classes(c) & classes for c in r.codes())]
    row = (about or rows)[0].id if rows else None  # prefer a row whose regimens the rule is about
    unknown = [k for k, v in f.facts.items() if v is None]
    if f.severity == "critical":
        summary = f"Unsafe for this patient: {names}. {inv.text}"
        why = "The rule applies to this patient: " + "; ".join(_fact_text(k, v) for k, v in f.facts.items())
    else:
        summary = f"Check before ordering {names}: {inv.text}"
        why = ("The rule may apply; what would decide it is unknown: " + ", ".join(unknown)
               + ". Known: " + ("; ".join(_fact_text(k, v) for k, v in f.facts.items() if v is not None) or "none"))
    detail = "\n".join([
        f"**Safety rule** `{inv.id}`: {inv.text}", "",
        "**Selected orders**", "",
        *[f"- {o.ref}: {o.label} (drugs: {_drug_names(kb, o.drugs)})" for o in f.orders], "",
        f"**Why** {why}", "",
        f"**Source** {_cite(inv.citations)}",
    ])
    suggestions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for code, test_row in f.tests:
        if code in seen or not kb.vocabulary.has("tests", code):
            continue
        seen.add(code)
        label = kb.vocabulary.get("tests", code).label
        s = _order_test(code, label, patient_id, f"mcrc safety rule {inv.id}; knowledge base row {test_row}")
        s["label"] = _shorten(f"Order {label} before deciding", 120)
        suggestions.append(s)
    suggestions.append({
        "label": _shorten(f"Remove the draft order{'s' if len(f.orders) > 1 else ''}: {names}", 120),
        "uuid": str(uuid.uuid4()),
        "isRecommended": f.severity == "critical",
        "actions": [{"type": "delete", "description": f"Remove {o.label} from the draft orders",
                     "resourceId": o.ref} for o in f.orders],
    })
    return _card(summary, f.severity, detail, f"mcrc safety rule: {_cite(inv.citations)}", links, row,
                 suggestions, selection="at-most-one")


def _gap_card(kb: KnowledgeBase, gap: OptionGap, a: Any, links: Links) -> dict[str, Any]:
    v = kb.vocabulary
    classes = ", ".join(v.get("drug_classes", c).label if v.has("drug_classes", c) else c for c in gap.classes)
    names = ", ".join(o.label for o in gap.orders)
    options = a.regimens[:_MAX_ITEMS_IN_CARD]
    evidence = [e for e in a.evidence if any(set(gap.classes) <= v.regimen_drug_classes(r) for r in e.regimens)]
    lines = [f"The selected orders ({names}) contain {classes}, which none of the regimen options the guideline"
             " sources give this patient contains.", "", "**Cited options**", ""]
    lines += [_bullet(r.label, r.citations, _reviewed(a, r)) for r in options]
    if evidence:
        lines += ["", "**Newer evidence (beside the guidelines, not a recommendation)**", ""]
        lines += [_bullet(f"{e.label}" + (f": {e.headline}" if e.headline else ""), e.citations) for e in evidence]
    row = next((r.rows[0] for r in options if r.rows), None)
    suggestion = {"label": _shorten(f"Remove the draft order{'s' if len(gap.orders) > 1 else ''}: {names}", 120),
                  "uuid": str(uuid.uuid4()),
                  "actions": [{"type": "delete", "description": f"Remove {o.label} from the draft orders",
                               "resourceId": o.ref} for o in gap.orders]}
    return _card(f"Not among the cited regimen options for this patient: {classes} ({names})", "warning",
                 "\n".join(lines), "mcrc: " + ", ".join(_sources(*(r.citations for r in options))), links, row,
                 [suggestion])


def order_cards(kb: KnowledgeBase, orders: list[DraftOrder], result: ReadResult, a: Any,
                links: Links, patient_id: str, notes: list[str]) -> list[dict[str, Any]]:
    """order-select cards: safety findings (critical first), option gaps, unrecognised orders."""
    facts = mcrc.derive_facts(result.patient, kb.definitions)
    findings = check_orders(kb, facts, orders)
    # an order a rule already forbids for this patient is to be removed: further "check before ordering" cards on
    # it (rules that might apply) and "not among the options" cards would only be noise beside the critical one
    unsafe = {o.ref for f in findings if f.severity == "critical" for o in f.orders}
    findings = [f for f in findings if f.severity == "critical" or not {o.ref for o in f.orders} <= unsafe]
    cards = [_finding_card(kb, f, links, patient_id) for f in findings]
    cards += [_gap_card(kb, g, a, links) for g in option_gaps(kb, a, orders)
              if not {o.ref for o in g.orders} <= unsafe]
    unknown = [o for o in orders if o.selected and not o.drugs]
    if unknown:
        cards.append(_card(
            f"mcrc could not check: {', '.join(o.label for o in unknown)} (medication not recognised)", "info",
            "mcrc recognises medications by RxNorm ingredient code or by drug name; these orders were not "
            "checked against its safety rules:\n\n" + "\n".join(f"- {o.ref}: {o.label}" for o in unknown),
            "mcrc vocabulary", links, None))
    cards = by_indicator(cards)
    if cards and (notes or result.warnings):
        cards[0]["detail"] += "\n\n" + "\n".join(f"*Record: {n}*" for n in notes + result.warnings)
    return cards
