"""The Assessment: the answer for one patient plus the trace of how it was reached.

Its JSON form is documented (docs/assessment-json.md) and stable: every recommended item has
`code`, `label` and `citations`; people read labels, programs rely on codes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mcrc.knowledge.reviews import ItemStatus, RowReview

Certainty = Literal["definite", "possible"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built on first dump or validation, not at import


# The parts of an Assessment are plain dataclasses (cheap to build in the engine's hot path);
# pydantic still validates and serialises them as fields of the Assessment model.
_part = dataclass(kw_only=True)


@_part
class CitationOut:
    source: str
    where: str
    footnote: str | None = None


@_part
class Item:
    code: str
    label: str
    citations: list[CitationOut]
    rows: list[str]
    note: str | None = None
    # whether the rows behind the item have been clinically reviewed (their statuses: `Assessment.reviews`)
    review: ItemStatus = "not_reviewed"


@_part
class Caveat:
    """A warning attached to one option, for this patient (caveats.yaml): e.g. anti-EGFR for a right-sided
    tumour, combination chemotherapy for a patient unfit for it. An option with caveats is listed after those
    without."""

    code: str
    label: str
    rule: str
    citations: list[CitationOut]


@_part
class RegimenItem(Item):
    drugs: list[str]
    drug_classes: list[str]
    caveats: list[Caveat] = field(default_factory=list)


@_part
class Approval:
    """A trial's US regulatory action as data (vocabulary-evidence.yaml `approval`)."""

    agency: str
    kind: Literal["regular", "traditional", "accelerated", "none", "pending"]
    date: str | None = None  # YYYY-MM or YYYY-MM-DD, as precise as the source
    indication: str | None = None


@_part
class EvidenceItem(Item):
    """Newer evidence (a trial or approval), shown beside the guidelines, never as one of them."""

    item: int | None = None
    headline: str | None = None
    regulatory_status: str | None = None
    regimens: list[str] = field(default_factory=list)
    differs: str | None = None
    caveats: list[Caveat] = field(default_factory=list)
    approval: Approval | None = None


@_part
class SourceEdition:
    """A guideline source with its edition and year (sources.yaml; year null where the text gives none)."""

    source: str
    edition: str | None = None
    year: int | None = None


@_part
class GuidelineAnswer:
    """What the guideline rows recommend instead of a current-standard option, for this patient."""

    says: str  # the evidence row's `differs` text: what the guideline sources here give at this point
    regimens: list[str] = field(default_factory=list)  # the regimen options the guideline rows give (codes)
    sources: list[SourceEdition] = field(default_factory=list)  # the guideline sources behind them, edition, year


@_part
class CurrentStandard:
    """An approved newer option that differs from the guideline answer, shown first and beside (never instead of)
    the guideline's own recommendation (decision record 0033). It is also listed under `evidence`."""

    code: str  # the trial term (as in `evidence`)
    trial: str
    option: str  # the option in words (its regimens' labels)
    regimens: list[str]
    approval: Approval
    item: int | None = None
    source: str  # the digest it comes from (evidence-2025, evidence-2026)
    seen: list[str] = field(default_factory=list)  # how much of the primary source the digest read
    guideline: GuidelineAnswer
    citations: list[CitationOut]
    rows: list[str]
    caveats: list[Caveat] = field(default_factory=list)
    review: ItemStatus = "not_reviewed"


@_part
class NewerEdition:
    name: str
    year: int
    relation: Literal["edition", "later_guideline"]
    citations: list[CitationOut]


@_part
class Currency:
    """A guideline source this answer rests on, its edition and year, and the newer editions known of it (or later
    guidelines in its field): nothing is encoded from them; the board checks the current text."""

    source: str
    edition: str | None = None
    year: int | None = None
    newer: list[NewerEdition] = field(default_factory=list)
    note: str | None = None


@_part
class StepOut:
    code: str
    label: str
    action_class: str
    months: float | None = None
    max_months: float | None = None
    regimens: list[str] = field(default_factory=list)
    note: str | None = None
    every_months: float | None = None
    caveats: list[Caveat] = field(default_factory=list)


@_part
class Phase:
    """One phase of a strategy on a time axis (months from the start); None where the sources give no duration."""

    code: str
    label: str
    kind: str
    start_month: float | None
    end_month: float | None
    duration: Literal["fixed", "up_to", "unknown", "event"]
    every_months: float | None = None


@_part
class StrategyOut:
    id: str
    label: str | None = None
    steps: list[StepOut]
    note: str | None = None
    row: str
    citations: list[CitationOut]
    timeline: list[Phase] = field(default_factory=list)
    review: ItemStatus = "not_reviewed"


@_part
class View:
    voice: str
    source: str
    stance: str
    stance_label: str
    summary: str | None
    row: str
    citations: list[CitationOut]
    review: ItemStatus = "not_reviewed"


@_part
class TopicView:
    topic: str
    label: str
    agreement: Literal["agree", "differ", "single"]
    views: list[View]


@_part
class FollowupItem(Item):
    every_months: int | None = None
    from_month: int | None = None
    until_month: int | None = None
    dates: list[dt.date] = field(default_factory=list)


@_part
class PossibleRow:
    row: str
    table: str
    title: str
    needs: list[str]
    would_add: list[str]
    citations: list[CitationOut]


@_part
class UnknownFact:
    fact: str
    description: str
    rows: list[str]


@_part
class Rationale:
    row: str
    table: str
    title: str
    note: str | None = None
    citations: list[CitationOut]


@dataclass(kw_only=True, frozen=True)
class ConditionTrace:
    condition: str
    result: Literal["true", "false", "unknown"]


@dataclass(kw_only=True, frozen=True)
class RowTrace:
    row: str
    result: Literal["fired", "possible", "not_fired"]
    default: bool = False
    conditions: tuple[ConditionTrace, ...]


@dataclass(kw_only=True, frozen=True)
class TableTrace:
    table: str
    title: str
    hit: str
    applies: Literal["true", "false", "unknown"]
    rows: tuple[RowTrace, ...]


@_part
class Assumption:
    """A presumption the provisional answer rests on (presumptions.yaml, decision record 0034)."""

    presumption: str  # its id
    kind: Literal["reported_when_present", "untreated_synchronous"]
    assumed: str  # in words: "no lymphangitic spread (not reported)"
    reason: str
    fills: str  # the Patient field it fills
    facts: list[str]  # the facts it settled that the strict answer was waiting for
    citations: list[CitationOut] = field(default_factory=list)


@_part
class Outcome:
    """What the answer would be for some values of one unknown fact."""

    values: list[Any]  # the fact's values that give this outcome
    value_labels: list[str]
    scope: Literal["in_scope", "refer_mdt", "out_of_scope"]
    goal: str | None = None  # goal label
    summary: str  # the answer in words: the first strategy, or the referral
    strategies: list[str] = field(default_factory=list)  # every strategy in words
    regimens: list[str] = field(default_factory=list)  # regimen codes
    local: list[str] = field(default_factory=list)  # local treatment codes
    rows: list[str] = field(default_factory=list)  # the answer-shaping rows that fire
    # strategies, local treatments and regimens (words) not every outcome has
    only_here: list[str] = field(default_factory=list)


@_part
class Branch:
    """One unknown fact worth settling, and the answer for each of its values (equal answers merged)."""

    fact: str
    question: str  # the fact in clinical words
    outcomes: list[Outcome]
    weight: int  # how much of the answer depends on it (answer-shaping rows that differ between outcomes)


@_part
class Scope:
    status: Literal["in_scope", "refer_mdt", "out_of_scope"]
    reason: str | None = None


@_part
class Provenance:
    kb_version: str
    engine_version: str
    input_hash: str | None = None
    sources: list[str]
    newer_evidence: Literal["shown", "hidden"] = "shown"
    # where the review statuses were read: the knowledge base's review file, and the case store's marks when the
    # answer was made by the server or the store (the command line reads the file only)
    reviews_from: list[Literal["knowledge", "store"]] = field(default_factory=lambda: ["knowledge"])


class Assessment(_Out):
    schema_id: Literal["mcrc.assessment/1"] = "mcrc.assessment/1"
    patient_id: str | None = None
    provenance: Provenance
    scope: Scope
    current_standard: list[CurrentStandard] = []
    goal: Item | None = None
    first_steps: list[Item] = []
    strategies: list[StrategyOut] = []
    local_treatment: list[Item] = []
    regimens: list[RegimenItem] = []
    warnings: list[Item] = []
    tests: list[Item] = []
    workup: list[Item] = []
    prognosis: list[Item] = []
    followup: list[FollowupItem] = []
    considerations: list[Item] = []
    referrals: list[Item] = []
    positions: list[TopicView] = []
    evidence: list[EvidenceItem] = []
    currency: list[Currency] = []
    possible: list[PossibleRow] = []
    unknown_facts: list[UnknownFact] = []
    rationale: list[Rationale] = []
    reviews: dict[str, RowReview] = {}
    facts: dict[str, Any] = {}
    derivation_notes: list[str] = []
    trace: list[TableTrace] = []
    # the unknown facts that change the answer most, each with the answer for its values (issue 19)
    branches: list[Branch] = []
    # the answer computed with the presumptions a clinician would make (decision record 0034); the fields above
    # stay the strict answer, unknown kept unknown
    provisional: Provisional | None = None

    def codes(self, section: str | None = None) -> set[str]:
        """All definite codes, or those of one section (handy for programs and tests)."""
        out: set[str] = set()
        if section in (None, "goal") and self.goal:
            out.add(self.goal.code)
        for name in ("first_steps", "local_treatment", "regimens", "warnings", "tests", "workup", "prognosis",
                     "followup", "considerations", "referrals", "evidence", "current_standard"):
            if section in (None, name):
                out |= {i.code for i in getattr(self, name)}
        if section in (None, "strategies"):
            for s in self.strategies:
                out |= {st.code for st in s.steps}
                out |= {r for st in s.steps for r in st.regimens}
        return out

    def fired_rows(self) -> list[str]:
        return [r.row for t in self.trace for r in t.rows if r.result == "fired"]

    def shown(self) -> Assessment:
        """The answer to show first: the provisional one when presumptions were used, else this (strict) one."""
        return self.provisional.answer if self.provisional is not None else self


class Provisional(_Out):
    """The answer with the presumptions used, stated next to it; the strict answer stays the Assessment itself."""

    assumptions: list[Assumption]
    answer: Assessment  # no trace, no provisional of its own


Assessment.model_rebuild()
