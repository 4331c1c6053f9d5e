"""The rule files beside the tables parsed and checked: safety invariants, caveats, indications, selectors and
the constraints no real patient breaks."""

from __future__ import annotations

from typing import Any

from mcrc.errors import Problem
from mcrc.knowledge.expr import compile_expr
from mcrc.knowledge.model import (
    CaveatRule,
    Constraint,
    Indication,
    Invariant,
    Selector,
)
from mcrc.knowledge.parse_tables import _code, _text, parse_cites, parse_condition
from mcrc.knowledge.reading import _Collector, read_yaml
from mcrc.vocabulary import (
    Vocabulary,
)

Path_ = tuple[Any, ...]

# --- safety invariants ----------------------------------------------------------------------------

def parse_invariants(text: str, file: str, vocab: Vocabulary, sources: dict) -> tuple[list[Invariant], list[Problem]]:
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: list[Invariant] = []
    for i, inv in enumerate((data or {}).get("invariants") or []):
        p = ("invariants", i)
        kinds = [k for k in ("forbid", "require", "max_months", "forbid_together", "caveat") if k in inv]
        if len(kinds) != 1:
            c.add(p, "an invariant has exactly one of forbid, require, max_months, forbid_together, caveat")
            continue
        kind = kinds[0]
        cites = parse_cites(c, inv.get("cite"), (*p, "cite"), sources)
        if not cites:
            c.add(p, f"invariant {inv.get('id')} has no citation")
        sel, limit, classes, caveat_code = None, None, (), None
        body = inv[kind]
        if kind in ("forbid", "require"):
            sel = _selector(c, vocab, body, (*p, kind))
        elif kind == "caveat":
            body = dict(body or {})
            caveat_code = body.pop("warning", None)
            if not _code(c, vocab, "warnings", caveat_code, (*p, kind, "warning")):
                continue
            _must_be_safety(c, vocab, caveat_code, (*p, kind, "warning"), inv.get("id"))
            sel = _selector(c, vocab, body, (*p, kind))
        elif kind == "max_months":
            limit = body.get("limit")
            classes = tuple(body.get("action_class") or ())
        else:
            classes = tuple(body or ())
            for j, k in enumerate(classes):
                if not vocab.has("drug_classes", k):
                    c.add((*p, kind, j), f"unknown drug class {k!r}", ", ".join(vocab.codes("drug_classes")))
        when = parse_condition(c, inv["when"], (*p, "when")) if "when" in inv else None
        unless = parse_condition(c, inv["unless"], (*p, "unless")) if "unless" in inv else None
        exempt = inv.get("exempt") or {}
        exempt_classes = tuple(exempt.get("drug_class") or ())
        for j, k in enumerate(exempt_classes):
            if not vocab.has("drug_classes", k):
                c.add((*p, "exempt", "drug_class", j), f"unknown drug class {k!r}")
        exempt_when = parse_condition(c, exempt["when"], (*p, "exempt", "when")) if "when" in exempt else None
        warning_codes = inv.get("warnings") or []
        if not isinstance(warning_codes, list):
            c.add((*p, "warnings"), "warnings is a list of warning codes")
            warning_codes = []
        for j, w in enumerate(warning_codes):
            if _code(c, vocab, "warnings", w, (*p, "warnings", j)):
                _must_be_safety(c, vocab, w, (*p, "warnings", j), inv.get("id"))
        if exempt and (kind != "forbid" or not exempt_classes or exempt_when is None):
            c.add((*p, "exempt"), "an exemption belongs to a forbid invariant and needs drug_class and when")
        out.append(Invariant(
            id=str(inv.get("id")), text=_text(inv.get("text")) or "", citations=cites, kind=kind, selector=sel,
            when=when, unless=unless, limit=limit, classes=classes,
            when_check=compile_expr(when) if when is not None else None,
            unless_check=compile_expr(unless) if unless is not None else None,
            exempt_classes=exempt_classes, exempt_when=exempt_when,
            exempt_check=compile_expr(exempt_when) if exempt_when is not None else None,
            caveat_code=caveat_code, warning_codes=tuple(str(w) for w in warning_codes),
        ))
    return out, c.problems


def _must_be_safety(c: _Collector, vocab: Vocabulary, code: str, path: Path_, invariant: Any) -> None:
    """A warning that states a safety invariant to the reader is a safety warning (decision record 0038)."""
    severity = vocab.get("warnings", code).severity
    if severity != "safety":
        c.add(path, f"warning {code} states safety invariant {invariant}, so its severity must be safety "
                    f"(the vocabulary says {severity})")


CAVEAT_KEYS = {"id", "when", "regimens", "warning", "note", "cite", "demote"}


def parse_caveats(text: str, file: str, vocab: Vocabulary, sources: dict) -> tuple[list[CaveatRule], list[Problem]]:
    """caveats.yaml: when a condition holds, the regimens a selector picks carry a cited warning as caveat."""
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: list[CaveatRule] = []
    seen: set[str] = set()
    for i, item in enumerate((data or {}).get("caveats") or []):
        p = ("caveats", i)
        if not isinstance(item, dict) or set(item) - CAVEAT_KEYS or not {"id", "when", "regimens", "warning"} <= set(
                item):
            c.add(p, "a caveat has id, when, regimens (a selector), warning, cite (and optional note, demote)",
                  ", ".join(sorted(CAVEAT_KEYS)))
            continue
        cid = str(item["id"])
        if cid in seen:
            c.add((*p, "id"), f"duplicate caveat id {cid}")
        seen.add(cid)
        cites = parse_cites(c, item.get("cite"), (*p, "cite"), sources)
        if not cites:
            c.add(p, f"caveat {cid} has no citation")
        if not _code(c, vocab, "warnings", item["warning"], (*p, "warning")):
            continue
        when = parse_condition(c, item["when"], (*p, "when"))
        out.append(CaveatRule(id=cid, when=when, selector=_selector(c, vocab, item["regimens"], (*p, "regimens")),
                              code=item["warning"], citations=cites, note=_text(item.get("note")),
                              demote=item.get("demote", True) is not False, when_check=compile_expr(when)))
    return out, c.problems


INDICATION_KEYS = {"when", "cite", "note"}


def parse_indications(text: str, file: str, vocab: Vocabulary,
                      sources: dict) -> tuple[dict[str, Indication], list[Problem]]:
    """indications.yaml: per trial term, the population of its full approval as a condition (decision record
    0033). Only a trial whose approval is regular or traditional is shown as the current standard, and only where
    its indication holds; an entry for a trial not (yet) so approved waits for it."""
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: dict[str, Indication] = {}
    entries = (data or {}).get("indications") if isinstance(data, dict) else None
    if entries is not None and not isinstance(entries, dict):
        c.add(("indications",), "indications is a mapping of trial codes")
        return out, c.problems
    for code, body in (entries or {}).items():
        p = ("indications", code)
        if not _code(c, vocab, "trials", code, p):
            continue
        if not isinstance(body, dict) or set(body) - INDICATION_KEYS or "when" not in body:
            c.add(p, "an indication has when (a condition) and cite (and optional note)",
                  ", ".join(sorted(INDICATION_KEYS)))
            continue
        cites = parse_cites(c, body.get("cite"), (*p, "cite"), sources)
        if not cites:
            c.add(p, f"the indication of {code} has no citation")
        when = parse_condition(c, body["when"], (*p, "when"))
        out[code] = Indication(code=code, when=when, citations=cites, note=_text(body.get("note")), line=c.line(p),
                               check=compile_expr(when))
    return out, c.problems


def _selector(c: _Collector, vocab: Vocabulary, body: Any, path: Path_) -> Selector:
    body = body or {}
    checks = {"action_class": None, "drug_class": "drug_classes", "drug": "drugs", "code": None,
              "without_drug_class": "drug_classes"}
    for key, section in checks.items():
        for j, v in enumerate(body.get(key) or []):
            if section and not vocab.has(section, v):
                c.add((*path, key, j), f"unknown {section} {v!r}")
    classes = {t.klass for t in vocab.terms["actions"].values()}
    for j, v in enumerate(body.get("action_class") or []):
        if v not in classes:
            c.add((*path, "action_class", j), f"unknown action class {v!r}", ", ".join(sorted(classes)))
    keys = ("sections", "action_class", "drug_class", "drug", "code", "combination", "without_drug_class")
    extra = set(body) - set(keys)
    if extra:
        c.add(path, f"unknown selector key(s): {', '.join(sorted(extra))}", ", ".join(keys))
    return Selector(
        sections=tuple(body.get("sections") or ()), action_class=tuple(body.get("action_class") or ()),
        drug_class=tuple(body.get("drug_class") or ()), drug=tuple(body.get("drug") or ()),
        code=tuple(body.get("code") or ()), combination=bool(body.get("combination")),
        without_drug_class=tuple(body.get("without_drug_class") or ()),
    )


def parse_constraints(text: str, file: str) -> tuple[list[Constraint], list[Problem]]:
    data, lines = read_yaml(text, file)
    c = _Collector(file, lines)
    out: list[Constraint] = []
    seen: set[str] = set()
    for i, item in enumerate((data or {}).get("constraints") or []):
        p = ("constraints", i)
        if not isinstance(item, dict) or set(item) - {"id", "if", "then", "text"} or "then" not in item:
            c.add(p, "a constraint has id, if, then (and optional text)")
            continue
        cid = str(item.get("id"))
        if cid in seen:
            c.add((*p, "id"), f"duplicate constraint id {cid}")
        seen.add(cid)
        out.append(Constraint(cid, parse_condition(c, item.get("if"), (*p, "if")),
                              parse_condition(c, item["then"], (*p, "then")), c.line(p)))
    return out, c.problems
