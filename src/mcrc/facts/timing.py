"""When the metastases were found against the primary's treatment: synchronous or metachronous, whether the lung
was the first distant site, the disease-free interval (definitions lung_timing, lung_initial, dfi)."""

from __future__ import annotations

import datetime as dt

from mcrc.facts.history import (
    add_months,
)
from mcrc.patient import Lesion, Patient


def whole_months(start: dt.date, end: dt.date) -> int:
    """Completed calendar months from start to end (0 if end is not after start)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, months) > end:
        months -= 1
    return max(months, 0)


def _treatment_start(p: Patient) -> dt.date | None:
    starts: list[dt.date] = []
    if p.primary and p.primary.resected_on:
        starts.append(p.primary.resected_on)
    hist = p.treatment_history
    if hist and hist.courses:  # any systemic course treats a primary still in place, whatever its intent
        starts += [c.started for c in hist.courses if c.started]
    if hist and hist.radiotherapy:
        starts += [r.started for r in hist.radiotherapy if r.started and r.site == "pelvis"]
    return min(starts) if starts else None


def _timing(p: Patient, lesions: list[Lesion]) -> str | None:
    """Synchronous if found before any treatment of the primary began (see definitions lung_timing)."""
    lung = lesions
    recorded = {m.timing for m in lung if m.timing}
    if len(recorded) == 1:
        return recorded.pop()
    if "metachronous" in recorded:
        return "metachronous"
    start = _treatment_start(p)
    status = p.primary.status if p.primary else None
    # primary untreated so far (in place, no course given, no treatment dated): every lesion was found in the
    # primary's work-up, whenever it was found
    if start is None and status == "in_place" and p.treatment_history is not None \
            and p.treatment_history.courses == []:
        return "synchronous"
    found = [m.found for m in lung]
    if start is None or any(f is None for f in found):
        return None
    return "synchronous" if min(found) < start else "metachronous"


# treatment of metastases elsewhere: when it began before the lung lesions were found, the lung is not the first
# distant site (lung review OV7: any organ, however treated)
_OTHER_METASTASIS_PROCEDURES = ("liver_resection", "liver_ablation", "cytoreduction_hipec", "cytoreduction",
                                "hai_pump", "tace", "tare")
_METASTATIC_INTENTS = ("perioperative", "conversion", "palliative", "maintenance")


def _other_metastasis_treated(p: Patient) -> list[dt.date | None]:
    """Dates of earlier treatment of metastatic disease: local treatment of a non-lung metastasis (liver
    resection or ablation, cytoreduction with or without HIPEC, an HAI pump, TACE or TARE), and the start of any
    systemic course for metastatic disease (perioperative, conversion, palliative, maintenance)."""
    hist = p.treatment_history
    dates = [x.date for x in (hist.procedures if hist else None) or () if x.kind in _OTHER_METASTASIS_PROCEDURES]
    dates += [c.started for c in (hist.courses if hist else None) or () if c.intent in _METASTATIC_INTENTS]
    return dates


def _lung_initial(timing: str | None, lung: list[Lesion], other: list[Lesion],
                  other_treated: list[dt.date | None]) -> bool | None:
    if timing == "synchronous":
        return True
    lung_found = [m.found for m in lung]
    # metastatic disease treated before the lung lesions appeared: the lung is not the first distant site
    if other_treated and all(lung_found) and any(d is not None and d < min(lung_found) for d in other_treated):
        return False
    if not other:
        return True if timing == "metachronous" else None
    lung_dates = [m.found for m in lung]
    other_dates = [m.found for m in other]
    if any(x is None for x in lung_dates + other_dates):
        return None
    return min(lung_dates) <= min(other_dates)


def _dfi(p: Patient, lung: list[Lesion], timing: str | None) -> int | None:
    if timing == "synchronous":
        return 0
    if not p.primary or p.primary.resected_on is None:
        return None
    found = [m.found for m in lung]
    if any(f is None for f in found):
        return None
    return whole_months(p.primary.resected_on, min(found))
