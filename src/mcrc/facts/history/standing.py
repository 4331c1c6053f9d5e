"""Where the disease stands on the latest courses, and what anti-EGFR rechallenge asks of them (E1, E2)."""

from __future__ import annotations

from mcrc.catalog import PREOP_IRINOTECAN_REGIMENS
from mcrc.facts.history.conventions import (
    CONTROL,
    CURATIVE,
    DAYS_PER_MONTH,
    PREOPERATIVE,
    PRIMARY_PROCEDURES,
    RESPONSES,
    add_months,
    kleene_and,
    kleene_or,
)
from mcrc.facts.history.courses import CourseHistory
from mcrc.patient import Course


class DiseaseStanding(CourseHistory):
    """The courses read for where the disease stands now, and for anti-EGFR rechallenge."""

    # ---- where the disease stands --------------------------------------------------------------------
    def metastatic_courses(self) -> list[Course]:
        return [c for c in self.courses or () if c.intent not in CURATIVE]

    def latest(self) -> Course | None:
        courses = self.metastatic_courses()
        return courses[-1] if courses else None

    def progressing(self) -> bool | None:
        """The disease progressed on or after the latest course for metastatic disease, no later course begun
        (a relapse after adjuvant therapy alone is untreated metastatic disease, not progression on therapy)."""
        if self.courses is None:
            return None
        last = self.latest()
        return False if last is None else self.progressed(last)

    def preoperative_progression(self) -> tuple[bool | None, bool | None]:
        """(progression on the latest preoperative course not since answered by a response to salvage therapy,
        progression on any preoperative course). The source says not *directly* to resection (liver-sync-meta,
        Critical Warnings): a later course with an objective response lifts the bar (the review's case c13)."""
        if self.courses is None:
            return None, None
        courses = self.metastatic_courses()
        preop = [i for i, c in enumerate(courses) if c.intent in PREOPERATIVE]
        if not preop:
            return False, False
        ever = kleene_or(self.progressed_on(courses[i]) for i in preop)
        results: list[bool | None] = []
        for i in preop:
            progressed = self.progressed_on(courses[i])
            if progressed is False:
                results.append(False)
                continue
            answered = kleene_or(None if later.best_response is None else later.best_response in RESPONSES
                                 for later in courses[i + 1:])
            # answered by a later response: no bar; unknown response: unknown; no response: the bar stands
            bar = kleene_and([progressed, None if answered is None else not answered])
            results.append(bar)
        return kleene_or(results), ever

    def preop_irinotecan_regimen(self) -> str | None:
        """Lung review MC7: what "the original regimen" is when an irinotecan regimen worked before surgery: the
        latest preoperative course with irinotecan, if it worked, as its regimen code (or the code whose drugs are
        the ones recorded; 'other' when none is); None when that course did not work or it is not known."""
        for c in reversed(self.courses or ()):
            if c.intent not in PREOPERATIVE or self.has(c, "irinotecan") is not True:
                continue
            if self.progressed_on(c) or not (c.best_response in CONTROL
                                             or c.stop_reason in ("completed", "planned_surgery")):
                return None
            code = c.regimen or self.vocab.regimen_of(frozenset(c.drugs or ()))
            return code if code in PREOP_IRINOTECAN_REGIMENS else "other"
        return None

    def preoperative_months(self) -> int | None:
        """Lung review MC8: months of preoperative therapy of the current metastases, so that what follows surgery
        completes the 6-month total instead of adding 6 more. The courses counted are the perioperative and
        conversion ones since the latest local treatment of metastases; a course's months run from its start to
        its end (today while it goes on), to the nearest whole month. Unknown when a date it needs is missing."""
        if self.courses is None:
            return None
        preop = [c for c in self.courses if c.intent in PREOPERATIVE]
        if not preop:
            return 0
        hist = self.patient.treatment_history
        local = [p for p in (hist.procedures or ()) if p.kind not in PRIMARY_PROCEDURES]
        if any(p.date is None for p in local):
            return None
        since = max((p.date for p in local), default=None)
        total = 0.0
        for c in preop:
            if c.started is None:
                return None
            if since is not None and c.started < since:
                continue
            end = c.ended or (self.today if c.stop_reason == "ongoing" else None)
            if end is None:
                return None
            total += (end - c.started).days / DAYS_PER_MONTH
        return round(total)

    def preop_irinotecan_effective(self) -> bool | None:
        preop = [c for c in self.courses or () if c.intent in PREOPERATIVE]
        results = []
        for c in preop:
            given = self.has(c, "irinotecan")
            if given is False:
                continue
            effective = False if self.progressed_on(c) else (
                True if c.best_response in CONTROL or c.stop_reason in ("completed", "planned_surgery") else None)
            results.append(effective if given else (None if effective is not False else False))
        return kleene_or(results)

    def controlled_on_chemotherapy(self, lines_received: int | None) -> tuple[bool | None, bool | None]:
        """S2 (TRANSMET): (disease responding or stable on the current course for at least 3 months, within at
        most 3 lines; objective response on it). Read from the latest course for metastatic disease."""
        last = self.latest()
        if last is None:
            return (False, False) if self.courses is not None else (None, None)
        if self.progressed(last):
            return False, False
        objective = None if last.best_response is None else last.best_response in RESPONSES
        if last.best_response is None:
            return None, None
        if last.best_response not in CONTROL:
            return False, objective
        end = last.ended or (self.today if last.stop_reason in (None, "ongoing") else None)
        if last.started is None or end is None:
            lasted = None
        else:
            lasted = end >= add_months(last.started, self.params.control_months)
        within = None if lines_received is None else lines_received <= self.params.control_max_lines
        return kleene_and([lasted, within]), objective

    def conversion_response(self) -> bool | None:
        """The latest course for metastatic disease was conversion therapy that worked: an objective response, or
        stopped for the planned surgery, and no progression on or after it (liver-sync-meta: once resectable,
        operate, then continue the same regimen)."""
        if self.courses is None:
            return None
        last = self.latest()
        if last is None or last.intent != "conversion":
            return False
        progressed = self.progressed(last)
        if progressed:
            return False
        worked = True if last.best_response in RESPONSES or last.stop_reason == "planned_surgery" else (
            None if last.best_response is None else False)
        return kleene_and([worked, None if progressed is None else True])

    # ---- anti-EGFR rechallenge (E1, E2) ---------------------------------------------------------------
    def anti_egfr(self) -> dict[str, bool | None]:
        """Benefit from earlier anti-EGFR (objective response, or stable disease for at least 6 months), whether
        the latest course was anti-EGFR-free (E2: a line without it in between), and whether the ctDNA result
        post-dates the last anti-EGFR course (a result from before it says nothing of acquired resistance)."""
        courses = self.courses or []
        with_egfr = [c for c in courses if self.has(c, "anti_egfr")]
        maybe = [c for c in courses if self.has(c, "anti_egfr") is None]
        benefit = kleene_or([*(self._benefit(c) for c in with_egfr), *(None for _ in maybe)])
        last = self.latest()
        free = None if last is None or self.has(last, "anti_egfr") is None else not self.has(last, "anti_egfr")
        ctdna = self.patient.biomarkers.ctdna if self.patient.biomarkers else None
        ends = [c.ended or c.progression_date for c in with_egfr]
        if not with_egfr or ctdna is None or ctdna.date is None or None in ends:
            after = None
        else:
            after = ctdna.date >= max(ends)
        return {"anti_egfr_benefit": benefit, "anti_egfr_free_since": free, "ctdna_after_anti_egfr": after}

    def _benefit(self, c: Course) -> bool | None:
        if c.best_response in RESPONSES:
            return True
        if c.best_response != "stable":
            return None if c.best_response is None else False
        end = c.progression_date or c.ended or (self.today if c.stop_reason == "ongoing" else None)
        if c.started is None or end is None:
            return None
        return end >= add_months(c.started, self.params.anti_egfr_benefit_stable_months)
