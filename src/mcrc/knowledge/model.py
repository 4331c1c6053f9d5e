"""The knowledge base in memory: tables of rows, each row a condition and its cited outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mcrc.knowledge.citation import Citation
from mcrc.knowledge.definitions import Definitions
from mcrc.knowledge.expr import Expr, conjuncts, facts_of
from mcrc.knowledge.reviews import ReviewBook, RowReview, build_book
from mcrc.logic import Tri
from mcrc.vocabulary import Vocabulary

if TYPE_CHECKING:
    from mcrc.knowledge.trace import Trace

HitPolicy = Literal["unique", "collect"]

# Row output sections -> the vocabulary section their codes come from.
SECTIONS: dict[str, str] = {
    "goal": "goals",
    "first": "actions",
    "local": "actions",
    "regimens": "regimens",
    "warnings": "warnings",
    "tests": "tests",
    "workup": "tests",
    "prognosis": "prognosis",
    "followup": "followup",
    "notes": "considerations",
    "refer": "referrals",
    "evidence": "trials",
}


@dataclass(frozen=True)
class OutItem:
    """One coded output of a row (a regimen, a warning, a test...)."""

    code: str
    note: str | None = None
    citations: tuple[Citation, ...] = ()
    # follow-up schedules only
    every_months: int | None = None
    from_month: int | None = None
    until_month: int | None = None
    # newer-evidence items only: how this differs from the guideline sources
    differs: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of a strategy: an action, optionally with a duration, a repeat interval and regimens."""

    code: str
    months: float | None = None
    max_months: float | None = None
    regimens: tuple[str, ...] = ()
    note: str | None = None
    every_months: float | None = None
    # the months a patient fact says were already given count against max_months (a total, e.g. 6 months of
    # perioperative therapy of which some came before surgery: lung review MC8)
    less_months_of: str | None = None


@dataclass(frozen=True)
class Position:
    """What one voice (a guideline body or source) says on a topic, for the side-by-side view."""

    topic: str
    voice: str
    stance: str
    summary: str | None = None


@dataclass(frozen=True)
class Strategy:
    steps: tuple[Step, ...]
    label: str | None = None
    note: str | None = None
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class Row:
    id: str
    table_id: str
    title: str
    when: Expr
    default: bool
    citations: tuple[Citation, ...]
    note: str | None
    strategies: tuple[Strategy, ...]
    outputs: dict[str, tuple[OutItem, ...]]
    position: Position | None = None
    line: int | None = None
    file: str | None = None
    # compiled conjuncts (node, its text, its closure), filled by the loader for speed
    checks: tuple[tuple[Expr, str, Callable[[dict], Tri]], ...] = field(default=(), compare=False, repr=False)
    fns: tuple[Callable[[dict], Tri], ...] = field(default=(), compare=False, repr=False)
    check_facts: tuple[frozenset[str], ...] = field(default=(), compare=False, repr=False)
    all_codes: tuple[str, ...] = field(default=(), compare=False, repr=False)
    # the row's version (mcrc.knowledge.reviews.row_version): what a clinical review of it is a review of
    version: str = field(default="", compare=False)

    def facts(self) -> set[str]:
        return facts_of(self.when)

    def conditions(self) -> tuple[Expr, ...]:
        return conjuncts(self.when)

    def codes(self) -> list[str]:
        """Every code this row can output, sorted and unique."""
        out = [s.code for st in self.strategies for s in st.steps]
        out += [r for st in self.strategies for s in st.steps for r in s.regimens]
        for items in self.outputs.values():
            out += [i.code for i in items]
        return sorted(set(out))


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    source: str
    hit: HitPolicy
    applies: Expr
    rows: tuple[Row, ...]
    file: str
    line: int | None = None
    evidence: bool = False  # the table belongs to a newer-evidence source (shown beside, never instead)
    applies_check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)
    applies_facts: frozenset[str] = field(default=frozenset(), compare=False, repr=False)


@dataclass(frozen=True)
class Selector:
    """Picks items out of an Assessment: by section, action class, drug class, drug or code; `combination`
    picks regimens of two or more cytotoxic drugs (combination chemotherapy); `without_drug_class` leaves out
    regimens holding a drug of those classes (anti-EGFR with a BRAF inhibitor is not the sidedness question)."""

    sections: tuple[str, ...] = ()
    action_class: tuple[str, ...] = ()
    drug_class: tuple[str, ...] = ()
    drug: tuple[str, ...] = ()
    code: tuple[str, ...] = ()
    combination: bool = False
    without_drug_class: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaveatRule:
    """When `when` is TRUE, every regimen the selector picks carries the warning `code` as its caveat (and is
    listed after the options that carry none): caveats are knowledge, cited like rows (caveats.yaml)."""

    id: str
    when: Expr
    selector: Selector
    code: str
    citations: tuple[Citation, ...]
    note: str | None = None
    demote: bool = True  # options carrying it are listed after the others (false: a reminder, order kept)
    when_check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Invariant:
    id: str
    text: str
    citations: tuple[Citation, ...]
    kind: Literal["forbid", "require", "max_months", "forbid_together", "caveat"]
    selector: Selector | None = None
    when: Expr | None = None
    unless: Expr | None = None
    limit: float | None = None
    classes: tuple[str, ...] = ()
    # forbid only: a matching regimen is exempt when it also holds one of these drug classes and
    # `exempt_when` is TRUE (the one exception: anti-EGFR with a KRAS G12C inhibitor for KRAS G12C)
    exempt_classes: tuple[str, ...] = ()
    exempt_when: Expr | None = None
    exempt_check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)
    # caveat only: the warning code every entry the selector picks must carry while the invariant is active
    caveat_code: str | None = None
    # the warnings that state this invariant to the reader (safety.yaml `warnings`): the board summary shows them
    # as safety warnings, apart from cautions and notes (decision record 0037)
    warning_codes: tuple[str, ...] = ()
    when_check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)
    unless_check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Constraint:
    """A combination of facts no real patient can produce: when `if_` is TRUE, `then` must be TRUE."""

    id: str
    if_: Expr
    then: Expr
    line: int | None = None


@dataclass(frozen=True)
class Indication:
    """Where an approved newer option may be shown as the current standard (indications.yaml): the population of
    its full (regular or traditional) approval as conditions over facts, mcrc's reading of the indication. The
    engine shows the option first only when this holds; `mcrc verify` proves every row that could show it lies
    inside it (decision record 0033)."""

    code: str  # the trial term
    when: Expr
    citations: tuple[Citation, ...]
    note: str | None = None
    line: int | None = None
    check: Callable[[dict], Tri] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class KnowledgeBase:
    version: str
    tables: tuple[Table, ...]
    vocabulary: Vocabulary
    definitions: Definitions
    sources: dict[str, dict[str, Any]]
    invariants: tuple[Invariant, ...]
    rows: dict[str, Row] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    caveats: tuple[CaveatRule, ...] = ()
    indications: dict[str, Indication] = field(default_factory=dict)  # trial code -> its approved population
    presumptions: tuple[Any, ...] = ()  # mcrc.knowledge.presumptions.Presumption (presumptions.yaml, decision 0034)
    # clinical review status of every row from reviews.yaml (issue 17); the store's marks are added by the outer
    # layers (`with_marks`). Not part of `version`: a review is a statement about the knowledge, not knowledge.
    reviews: ReviewBook | None = field(default=None, compare=False, repr=False)
    trace_dir: Path | None = field(default=None, compare=False)  # the traceability matrix's files (trace/)

    @cached_property
    def trace(self) -> Trace:
        """The traceability matrix, read on first use: no answer depends on it (it is outside `version` too), so
        assessing a patient never pays for it. A malformed matrix file raises KnowledgeError here."""
        from mcrc.knowledge.trace import read_trace

        return read_trace(self.trace_dir, self.sources)

    def table(self, table_id: str) -> Table:
        for t in self.tables:
            if t.id == table_id:
                return t
        raise KeyError(table_id)

    @property
    def review_book(self) -> ReviewBook:
        """The review status of every row from the knowledge base's own review file (nothing reviewed if none)."""
        if self.reviews is None:
            object.__setattr__(self, "reviews", build_book(self.version, self.row_versions(), ()))
        return self.reviews  # type: ignore[return-value]

    def row_versions(self) -> dict[str, str]:
        return {rid: r.version for rid, r in self.rows.items()}

    def review_of(self, row_id: str) -> RowReview:
        return self.review_book.get(row_id)
