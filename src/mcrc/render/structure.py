"""How the answer is laid out for reading (issue 20 item 2, decision record 0038), the same in every renderer:
regimens grouped under the strategy that names them (the rest in a titled group of their own) with equivalent
variants folded into one entry, warnings by the severity the vocabulary gives them (safety first), the missing
information in clinical words and ranked by how much of the answer waits for it, and the page's sections that are
present (so that no link points at a section this answer does not have).

Nothing here decides anything clinical: it orders and groups what the Assessment already says, reading the
vocabulary for the folding (`variant_of`, a regimen's drugs) and for the severity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcrc.engine.assessment import Assessment, Caveat, Item, RegimenItem, StrategyOut
from mcrc.engine.branches import _SHAPING
from mcrc.knowledge.model import KnowledgeBase
from mcrc.vocabulary import SEVERITIES, Vocabulary

# action classes of the steps whose regimen the answer's regimen options fill when the strategy names none
SYSTEMIC_CLASSES = {"systemic", "perioperative"}

SEVERITY_TITLE = {
    "safety": "Safety warnings (rules never to break)",
    "caution": "Cautions (they change what is done)",
    "note": "Notes (they inform the choice)",
}
SEVERITY_WORD = {"safety": "SAFETY", "caution": "Caution", "note": "Note"}


# --- warnings by severity -------------------------------------------------------------------------------------

def severity_of(kb: KnowledgeBase, code: str) -> str:
    """The vocabulary's severity of a warning code. The loader requires one for every warning; a code it does not
    know (never in a loaded knowledge base) is treated as safety, the heavier reading, never as a note."""
    term = kb.vocabulary.terms.get("warnings", {}).get(code)
    return term.severity if term is not None and term.severity in SEVERITIES else "safety"


def warnings_by_severity(a: Assessment, kb: KnowledgeBase) -> list[tuple[str, list[Item]]]:
    """The answer's warnings grouped by severity, safety first; only the groups that have a warning, each in the
    answer's order."""
    groups: dict[str, list[Item]] = {s: [] for s in SEVERITIES}
    for w in a.warnings:
        groups[severity_of(kb, w.code)].append(w)
    return [(s, groups[s]) for s in SEVERITIES if groups[s]]


# --- regimens: folded variants, grouped by strategy -------------------------------------------------------------

@dataclass
class Fold:
    """One entry of a regimen list: a regimen, or equivalent variants folded together (the variants one click
    away). `why` says what makes them equivalent ("" for a single regimen)."""

    title: str
    members: list[RegimenItem]
    why: str = ""

    @property
    def folded(self) -> bool:
        return len(self.members) > 1

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.members]

    def caveats(self) -> list[tuple[Caveat, list[str]]]:
        """Every caveat of every variant, once per code, with the variants that carry it: shown on the folded
        entry itself, never only behind the fold."""
        out: dict[str, tuple[Caveat, list[str]]] = {}
        for r in self.members:
            for c in r.caveats:
                out.setdefault(c.code, (c, []))[1].append(r.label)
        return list(out.values())


def fold_keys(vocab: Vocabulary, code: str) -> set[tuple[str, Any]]:
    """What makes two regimens the same entry: the same family (a regimen's `variant_of`, or the regimen a variant
    names) or exactly the same set of drugs (FOLFOXIRI + bevacizumab and FOLFIRINOX + bevacizumab)."""
    if not vocab.has("regimens", code):
        return {("code", code)}
    term = vocab.get("regimens", code)
    return {("family", term.meta.get("variant_of") or code), ("drugs", frozenset(term.drugs))}


def fold_regimens(items: list[RegimenItem], vocab: Vocabulary) -> list[Fold]:
    """Fold equivalent variants into one entry, at the place of the first of them (the answer's order, in which
    options with a caveat come after those without, is kept between entries and within each)."""
    folds: list[tuple[set, Fold]] = []
    for r in items:
        keys = fold_keys(vocab, r.code)
        for fkeys, f in folds:
            if keys & fkeys:
                f.members.append(r)
                fkeys |= keys
                break
        else:
            folds.append((keys, Fold(r.label, [r])))
    for _, f in folds:
        if not f.folded:
            continue
        parents = {vocab.get("regimens", r.code).meta.get("variant_of") for r in f.members
                   if vocab.has("regimens", r.code)} - {None}
        if len(parents) == 1:
            parent = parents.pop()
            f.title = f"{vocab.get('regimens', parent).label} ({len(f.members)} variants)"
            f.why = ("given alone or with a systemic regimen" if parent in f.codes
                     else "the variants differ in the systemic regimen given with it")
        else:
            f.title = " or ".join(r.label for r in f.members)
            f.why = "the same drugs on different schedules"
    return [f for _, f in folds]


@dataclass
class RegimenGroup:
    """The regimen options of one strategy (`own`: the regimens its steps name), or the options no strategy names,
    which fill the systemic steps of the strategies in `serves` (numbers from 1)."""

    title: str
    folds: list[Fold]
    own: bool
    serves: list[int] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(f.members) for f in self.folds)


def _numbers(ns: list[int]) -> str:
    words = [str(n) for n in ns]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def names_regimens(s: StrategyOut) -> bool:
    return any(st.regimens for st in s.steps)


def needs_regimen(s: StrategyOut) -> bool:
    """A strategy with a systemic step and no regimen named by its steps: the answer's shared options fill it."""
    return not names_regimens(s) and any(st.action_class in SYSTEMIC_CLASSES for st in s.steps)


SHARED_TITLE = "Regimen options"


def regimen_groups(a: Assessment, vocab: Vocabulary) -> tuple[dict[int, RegimenGroup], RegimenGroup | None]:
    """The regimen options grouped: {strategy number: the options its steps name}, and the group of the options
    no strategy names (None when there are none), titled with the strategies whose systemic steps they fill."""
    by_code = {r.code: r for r in a.regimens}
    named: set[str] = set()
    own: dict[int, RegimenGroup] = {}
    for n, s in enumerate(a.strategies, start=1):
        codes = list(dict.fromkeys(c for st in s.steps for c in st.regimens))
        if not codes:
            continue
        named |= set(codes)
        items = [by_code[c] for c in codes if c in by_code]
        missing = [c for c in codes if c not in by_code]  # a code with no regimen item: shown by its code, never lost
        items += [RegimenItem(code=c, label=vocab.get("regimens", c).label if vocab.has("regimens", c) else c,
                              citations=[], rows=[], drugs=[], drug_classes=[]) for c in missing]
        own[n] = RegimenGroup(f"Regimen options of strategy {n}", fold_regimens(items, vocab), own=True, serves=[n])
    rest = [r for r in a.regimens if r.code not in named]
    if not rest:
        return own, None
    serves = [n for n, s in enumerate(a.strategies, start=1) if needs_regimen(s)]
    if serves:
        title = (f"{SHARED_TITLE} for the systemic therapy of strateg{'y' if len(serves) == 1 else 'ies'} "
                 f"{_numbers(serves)}")
    else:
        title = f"{SHARED_TITLE} (no strategy names them)"
    return own, RegimenGroup(title, fold_regimens(rest, vocab), own=False, serves=serves)


# --- missing information --------------------------------------------------------------------------------------

@dataclass
class Missing:
    fact: str
    description: str
    rows: list[str]
    shaping: int  # rows waiting for it that would shape the answer (goal, strategy, regimens, local, first, referral)
    branch: int  # the weight of its branch when the engine computed the answer per value (0: no branch)

    def impact(self) -> str:
        """'the answer differs by its value (see To settle); 5 rows that shape the answer wait for it (12 in all)'."""
        parts = ["the answer differs by its value (see To settle)"] if self.branch else []
        n, m = self.shaping, len(self.rows)
        if n:
            parts.append(f"{n} row{'s' if n > 1 else ''} that shape the answer wait{'s' if n == 1 else ''} for it"
                         + (f" ({m} in all)" if m > n else ""))
        else:
            parts.append(f"{m} row{'s' if m > 1 else ''} wait{'s' if m == 1 else ''} for it; none would change the "
                         "goal, the strategies, the regimens, local treatment or a referral")
        return "; ".join(parts)


def shapes_answer(kb: KnowledgeBase, row_id: str) -> bool:
    """A row that shapes the answer (the engine's own criterion for branches, `mcrc.engine.branches`)."""
    row = kb.rows.get(row_id)
    return row is not None and (bool(row.strategies) or any(s in row.outputs for s in _SHAPING))


def missing_information(a: Assessment, kb: KnowledgeBase) -> list[Missing]:
    """The unknown facts, most decisive first: a branch fact (by its weight), then by the rows that shape the
    answer waiting for it, then by all rows waiting; ties in the order of their description."""
    weight = {b.fact: b.weight for b in a.branches}
    out = [Missing(u.fact, u.description or u.fact, list(u.rows), sum(shapes_answer(kb, r) for r in u.rows),
                   weight.get(u.fact, 0)) for u in a.unknown_facts]
    return sorted(out, key=lambda m: (-m.branch, -m.shaping, -len(m.rows), m.description.lower()))


def fact_words(a: Assessment, fact: str) -> str:
    """An unknown fact in clinical words (its description), for lists that would otherwise show its code."""
    return next((u.description for u in a.unknown_facts if u.fact == fact and u.description), fact.replace("_", " "))


def code_words(kb: KnowledgeBase, code: str) -> str:
    """A vocabulary code's label (what a possible row would add), its code only when the vocabulary has none."""
    term = kb.vocabulary.find(code)
    return term.label if term is not None else code


# --- the page's sections ---------------------------------------------------------------------------------------

def page_sections(a: Assessment, kb: KnowledgeBase, provisional: Any = None, strict_view: bool = False,
                  board: bool = True) -> list[tuple[str, str]]:
    """(anchor, title) of every section the case page shows for this answer, in page order: the navigation links
    to these and to nothing else (the template's conditions, in one place; a test checks each anchor exists)."""
    _, shared = regimen_groups(a, kb.vocabulary)
    compared = [t for t in a.positions if t.agreement != "single"]
    present = [
        ("summary", "Summary", board),
        ("provisional", "Strict answer" if strict_view else "Provisional answer", provisional is not None),
        ("current-standard", "Current standard", bool(a.current_standard)),
        ("goal", "Goal", a.goal is not None),
        ("branches", "To settle", bool(a.branches)),
        ("strategies", "Strategies", bool(a.strategies)),
        ("regimens", "Regimen options", shared is not None),
        ("warnings", "Warnings", bool(a.warnings)),
        ("missing", "Missing information", bool(a.unknown_facts or a.possible)),
        ("side-by-side", "Side by side", bool(compared)),
        ("evidence", "Newer evidence", bool(a.evidence)),
        ("prognosis", "Prognosis", bool(a.prognosis)),
        ("followup", "Follow-up", bool(a.followup)),
        ("referrals", "Referral", bool(a.referrals)),
        ("currency", "Guideline currency", bool(a.currency)),
        ("flowchart", "Flowchart", True),
    ]
    return [(anchor, title) for anchor, title, here in present if here]


def answer_structure(a: Assessment, kb: KnowledgeBase) -> dict[str, Any]:
    """Everything above for one answer, for templates: `own` {strategy number: RegimenGroup}, `shared`, `warnings`
    [(severity, items)], `missing` [Missing]."""
    own, shared = regimen_groups(a, kb.vocabulary)
    return {"own": own, "shared": shared, "warnings": warnings_by_severity(a, kb),
            "missing": missing_information(a, kb)}
