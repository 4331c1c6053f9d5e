"""Presumptions: what a clinician takes as given when a case summary is silent (presumptions.yaml, decision 0034).

A presumption fills one unrecorded Patient field for the *provisional* answer only; the strict answer is kept.
The policy is enforced here, where the file is read, and again by `mcrc verify`: only two kinds exist, and no
presumption may concern a biomarker, a resectability, fitness, tumour burden or the patient's wishes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from mcrc.catalog import FACTS, RESECT
from mcrc.knowledge.expr import Expr, compile_expr
from mcrc.logic import Tri

Kind = Literal["reported_when_present", "untreated_synchronous"]
KINDS: dict[str, str] = {
    "reported_when_present": "a finding imaging, pathology or the clinical description states whenever present",
    "untreated_synchronous": "no systemic therapy before a presentation with the primary in place, staged now",
}
# The Patient fields each kind may fill: findings of a metastatic site or of the primary, or the course list.
_FILLS = {
    "reported_when_present": re.compile(r"^(metastases\[organ=[a-z_]+\]\.[a-z_]+|primary\.emergency)$"),
    "untreated_synchronous": re.compile(r"^treatment_history\.courses$"),
}
# What is never presumed, by the fact's source path or definition (the patient's biology, the MDT's judgements,
# the patient's fitness and wishes).
_FORBIDDEN_SOURCES = (("biomarkers", "a biomarker"), ("fitness", "fitness"), ("preferences", "the patient's wishes"),
                      ("tumour_burden", "tumour burden (an MDT judgement)"), ("region", "where the patient is treated"))
_FORBIDDEN_DEFINITIONS = {"ras": "a biomarker", "mmr_status": "a biomarker", "ctdna_clear": "a biomarker",
                          "ctdna_discordance": "a biomarker", "resectability_worst": "resectability"}


@dataclass(frozen=True)
class Presumption:
    id: str
    kind: Kind
    fills: str  # the Patient field path (the catalog's `source` of the facts it settles)
    value: Any
    facts: tuple[str, ...]
    when: Expr
    assumed: str  # how the answer states it: "no lymphangitic spread (not reported)"
    reason: str
    citations: tuple = ()
    line: int | None = None
    check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)


def forbidden(fact: str) -> str | None:
    """Why a fact may never be presumed, or None when it may be."""
    spec = FACTS.get(fact)
    if spec is None:
        return "not a fact of the catalog"
    for prefix, why in _FORBIDDEN_SOURCES:
        if spec.source == prefix or spec.source.startswith((f"{prefix}.", f"{prefix}[")):
            return why
    if spec.definition in _FORBIDDEN_DEFINITIONS:
        return _FORBIDDEN_DEFINITIONS[spec.definition]
    if "resectab" in fact or "resectab" in spec.source or set(RESECT) & set(spec.values):
        return "resectability (an MDT judgement)"
    if fact.startswith(("declines_", "wishes_")) or fact.startswith("fit_"):
        return "fitness or the patient's wishes"
    return None


def policy_problems(p: Presumption) -> list[str]:
    """Every way a presumption breaks the policy (empty when it keeps it)."""
    out = []
    if p.kind not in KINDS:
        return [f"kind {p.kind!r} is not allowed ({', '.join(KINDS)})"]
    if not _FILLS[p.kind].match(p.fills):
        out.append(f"a {p.kind} presumption cannot fill {p.fills!r}")
    if not p.facts:
        out.append("a presumption names the facts it settles")
    for f in p.facts:
        why = forbidden(f)
        if why:
            out.append(f"{f} is never presumed: {why}")
        elif FACTS[f].source != p.fills:
            out.append(f"{f} is read from {FACTS[f].source or 'a definition'}, not from {p.fills}")
        elif p.kind == "reported_when_present" and not FACTS[f].accepts(p.value):
            out.append(f"{p.value!r} is not a value of fact {f} ({FACTS[f].allowed()})")
    if p.kind == "untreated_synchronous" and p.value != []:
        out.append("an untreated_synchronous presumption fills the course list with [] (no course)")
    # every fact read from the filled field must be presumable too (a field holding a forbidden fact is refused)
    for spec in FACTS.values():
        if spec.source == p.fills and spec.name not in p.facts and forbidden(spec.name):
            out.append(f"{p.fills} also holds {spec.name}, which is never presumed")
    return out


PRESUMPTION_KEYS = {"id", "kind", "fills", "value", "facts", "when", "assumed", "reason", "cite"}


def parse_presumptions(data: Any, c: Any, sources: dict, parse_condition: Callable, parse_cites: Callable
                       ) -> list[Presumption]:
    """presumptions.yaml -> Presumptions; problems go to the loader's collector `c` (file:line)."""
    entries = data.get("presumptions") if isinstance(data, dict) else None
    if entries is None:
        return []
    if not isinstance(entries, list):
        c.add(("presumptions",), "presumptions is a list")
        return []
    out: list[Presumption] = []
    seen: set[str] = set()
    for i, body in enumerate(entries):
        p = ("presumptions", i)
        if not isinstance(body, dict) or set(body) - PRESUMPTION_KEYS:
            c.add(p, "unknown or missing keys", ", ".join(sorted(PRESUMPTION_KEYS)))
            continue
        missing = [k for k in ("id", "kind", "fills", "facts", "when", "assumed", "reason") if not body.get(k)]
        if missing or "value" not in body:
            c.add(p, f"a presumption needs {', '.join(missing or ['value'])}")
            continue
        if body["id"] in seen:
            c.add((*p, "id"), f"duplicate presumption id {body['id']}")
        seen.add(body["id"])
        facts = body["facts"] if isinstance(body["facts"], list) else [body["facts"]]
        unknown = [f for f in facts if f not in FACTS]
        if unknown:
            c.add((*p, "facts"), f"unknown fact(s) {', '.join(map(str, unknown))}")
            continue
        when = parse_condition(c, body["when"], (*p, "when"))
        pres = Presumption(id=str(body["id"]), kind=body["kind"], fills=str(body["fills"]), value=body["value"],
                           facts=tuple(facts), when=when, assumed=str(body["assumed"]).strip(),
                           reason=" ".join(str(body["reason"]).split()),
                           citations=parse_cites(c, body.get("cite"), (*p, "cite"), sources), line=c.line(p),
                           check=compile_expr(when))
        for problem in policy_problems(pres):
            c.add(p, problem)
        out.append(pres)
    return out
