"""Treatment history -> facts, counted as oncologists count it.

The sources say "after failure of oxaliplatin", "for patients who received oxaliplatin-based initial therapy",
"progressing during neoadjuvant chemotherapy", "responsive to chemotherapy", "rechallenge when ctDNA is clear";
none defines a line, refractoriness or failure. The definitions here follow the published conventions gathered
in CONVENTIONS.md (entries cited per function as L1-L6, R1-R3, A1, E1-E2, S1-S2, D1) and are recorded in
decision record 0027 with the entry each follows; their parameters live in definitions.yaml.

The data contract (decision record 0026): a course records its progression by `stop_reason: progression`,
`best_response: progression` or a `progression_date` (progression or relapse during or after it, until the next
course); a course with a stop reason and none of these did not progress; a course with neither a stop reason nor
a best response leaves it unknown. A course without drugs recorded leaves its drug classes unknown. Courses are
taken in order of their start dates when every course has one, else in the order listed.

Unknown stays unknown: every function answers None when the record does not settle it.

The derivations are split by what they hold: `conventions` (constants, Params, three-valued logic, month
arithmetic), `courses` (each course and each drug class), `standing` (where the disease stands; anti-EGFR
rechallenge), `lines` (lines of therapy) and `sites` (liver-dominant disease). `History` joins them.
"""

from mcrc.catalog import HISTORY_CLASSES as CLASSES
from mcrc.catalog import INTOLERANCE_CLASSES
from mcrc.facts.history.conventions import (
    BIOLOGICS,
    CONTROL,
    CURATIVE,
    CYTOTOXIC_CLASSES,
    DAYS_PER_MONTH,
    LINE_INTENTS,
    PREOPERATIVE,
    PRIMARY_PROCEDURES,
    RESPONSES,
    Params,
    add_months,
    kleene_and,
    kleene_or,
)
from mcrc.facts.history.lines import LinesOfTherapy
from mcrc.facts.history.sites import liver_dominant

__all__ = [
    "BIOLOGICS", "CLASSES", "CONTROL", "CURATIVE", "CYTOTOXIC_CLASSES", "DAYS_PER_MONTH", "INTOLERANCE_CLASSES",
    "LINE_INTENTS", "PREOPERATIVE", "PRIMARY_PROCEDURES", "RESPONSES",
    "History", "Params", "add_months", "kleene_and", "kleene_or", "liver_dominant",
]


class History(LinesOfTherapy):
    """One patient's recorded courses with the questions the rules ask of them."""
