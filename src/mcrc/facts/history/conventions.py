"""The conventions' constants and thresholds (Params), three-valued and/or, and calendar-month arithmetic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

CURATIVE = ("adjuvant", "neoadjuvant")  # around surgery of the primary, before metastatic disease
PREOPERATIVE = ("perioperative", "conversion")  # preoperative therapy of the metastases
LINE_INTENTS = ("conversion", "palliative")  # L5: conversion therapy is a first line
RESPONSES = ("complete", "partial", "response")
CONTROL = (*RESPONSES, "stable")
BIOLOGICS = frozenset({"anti_vegf", "anti_egfr"})
CYTOTOXIC_CLASSES = frozenset({"fluoropyrimidine", "oxaliplatin", "irinotecan", "thymidine_analogue"})
# procedures on the primary or for its complications (not local treatment of metastases)
PRIMARY_PROCEDURES = ("primary_resection", "stent", "colostomy", "diverting_ostomy", "bypass")
DAYS_PER_MONTH = 365.25 / 12


def kleene_or(values: Iterable[bool | None]) -> bool | None:
    seen_unknown = False
    for v in values:
        if v is True:
            return True
        if v is None:
            seen_unknown = True
    return None if seen_unknown else False


def kleene_and(values: Iterable[bool | None]) -> bool | None:
    seen_unknown = False
    for v in values:
        if v is False:
            return False
        if v is None:
            seen_unknown = True
    return None if seen_unknown else True


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar-month arithmetic, clamping to the month's last day (31 Jan + 1 month = 28/29 Feb). Gregorian month
    lengths by table (the same days as `calendar.monthrange`, tested over four centuries, without its weekday)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    d = day.day
    if d > 28:
        last = 29 if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else _MONTH_DAYS[month - 1]
        d = min(d, last)
    return dt.date(year, month, d)


@dataclass(frozen=True)
class Params:
    """The thresholds of the conventions (definitions.yaml, `treatment_history`)."""

    refractory_months: int = 3  # R1: progression on a class or within 3 months of its last dose
    curative_refractory_months: int = 6  # R1, L6: relapse during or within 6 months after (neo)adjuvant therapy
    adjuvant_oxaliplatin_months: int = 12  # A1: the guideline window for early failure of adjuvant oxaliplatin
    same_line_gap_days: int = 180  # L2: the same regimen restarted within 180 days continues the line
    biologic_added_days: int = 180  # L2: a biologic added within 180 days of the line's start continues it
    anti_egfr_added_days: int = 90  # L2: ... within 90 days for an anti-EGFR antibody
    control_months: int = 3  # S2: TRANSMET's disease control on chemotherapy for at least 3 months
    control_max_lines: int = 3  # S2: ... within at most 3 lines
    anti_egfr_benefit_stable_months: int = 6  # E2: PARERE's stable disease for at least 6 months

    @classmethod
    def from_definitions(cls, d) -> Params:
        """The thresholds as definitions.yaml states them (one home for every number)."""
        lines = d.params("lines_of_therapy")
        return cls(refractory_months=d.params("refractory")["months"],
                   curative_refractory_months=d.params("refractory")["curative_months"],
                   adjuvant_oxaliplatin_months=d.params("oxaliplatin_failure_12m")["months"],
                   same_line_gap_days=lines["same_line_gap_days"], biologic_added_days=lines["biologic_added_days"],
                   anti_egfr_added_days=lines["anti_egfr_added_days"],
                   control_months=d.params("disease_control")["months"],
                   control_max_lines=d.params("disease_control")["max_lines"],
                   anti_egfr_benefit_stable_months=d.params("anti_egfr_rechallenge")["stable_months"])
