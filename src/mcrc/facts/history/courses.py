"""What each course says (classes, progression, relapse, refractory, intolerant) and each drug class (R1, R3, A1)."""

from __future__ import annotations

import datetime as dt

from mcrc.facts.history.conventions import CURATIVE, Params, add_months, kleene_or
from mcrc.patient import Course, Lesion, Patient
from mcrc.vocabulary import Vocabulary


class CourseHistory:
    """One patient's recorded courses, and what each course and each drug class says."""

    def __init__(self, patient: Patient, vocab: Vocabulary, params: Params, today: dt.date):
        hist = patient.treatment_history
        self.vocab, self.params, self.today = vocab, params, today
        self.patient = patient
        courses = list(hist.courses) if hist and hist.courses is not None else None
        if courses is not None and all(c.started for c in courses):
            courses.sort(key=lambda c: c.started)
        self.courses: list[Course] | None = courses
        lesions: list[Lesion] = patient.metastases or []
        self.found = sorted(m.found for m in lesions if m.found)
        # every metastasis dated (or none recorded as present): a relapse not seen among them did not happen
        self.all_dated = patient.metastases is not None and all(m.found is not None for m in lesions)
        # per-course answers that do not depend on the drug class, asked once per class otherwise (speed)
        self._classes: dict[int, frozenset[str] | None] = {}
        self._refractory: dict[int, bool | None] = {}

    # ---- one course -------------------------------------------------------------------------------
    def classes(self, c: Course) -> frozenset[str] | None:
        key = id(c)
        if key not in self._classes:
            drugs = c.drug_codes()
            self._classes[key] = None if drugs is None else frozenset(
                self.vocab.terms["drugs"][d].klass for d in drugs)
        return self._classes[key]

    def has(self, c: Course, klass: str) -> bool | None:
        classes = self.classes(c)
        return None if classes is None else klass in classes

    @staticmethod
    def progressed_on(c: Course) -> bool | None:
        """Progression during the course: its stop reason or best response says so, or its progression date is
        no later than its end (or it is still going); unknown when the record says nothing of it."""
        if c.stop_reason == "progression" or c.best_response == "progression":
            return True
        if c.progression_date is not None:
            if c.ended is not None:
                return c.progression_date <= c.ended
            return True if c.stop_reason == "ongoing" else None  # on it, or after an end not recorded
        if c.stop_reason is None and c.best_response is None:
            return None
        return False

    def progression_date(self, c: Course) -> dt.date | None:
        """When the disease progressed on or after the course: its progression date, or for a curative course the
        first metastasis found after it began (the relapse)."""
        if c.progression_date is not None:
            return c.progression_date
        if c.intent in CURATIVE and c.started is not None:
            return next((f for f in self.found if f >= c.started), None)
        return None

    def progressed(self, c: Course) -> bool | None:
        """Progression on the course or after it (before the next course)."""
        if self.progressed_on(c) or c.progression_date is not None:
            return True
        if c.intent in CURATIVE:
            return self.relapsed_within(c, None)
        if c.stop_reason is None and c.best_response is None:
            return None
        return False

    def relapsed_within(self, c: Course, months: int | None) -> bool | None:
        """Relapse from the start of a curative course to `months` after its end (None: at any time after)."""
        relapse = self.progression_date(c)
        if relapse is None:
            if c.progression_date is None and self.all_dated and (c.started is not None or not self.found):
                return False
            return None
        if months is None:
            return True
        if c.started is not None and relapse < c.started:
            return False  # found before the course: it is not a relapse after it
        if c.started is not None and relapse <= add_months(c.started, months):
            return True  # within the window whatever the end date
        if c.ended is None:
            return None
        return relapse <= add_months(c.ended, months)

    def refractory_course(self, c: Course) -> bool | None:
        key = id(c)
        if key not in self._refractory:
            self._refractory[key] = self._refractory_course(c)
        return self._refractory[key]

    def _refractory_course(self, c: Course) -> bool | None:
        """R1: progression on the course or within the window after its last dose (3 months; 6 for curative
        courses, where relapse during the course counts as well). The progression may be recorded on a later
        course: progression on maintenance 2 months after the induction's oxaliplatin stopped makes the tumour
        refractory to oxaliplatin too."""
        if c.intent in CURATIVE:
            return self.relapsed_within(c, self.params.curative_refractory_months)
        on = self.progressed_on(c)
        if on:
            return True
        undated = False
        date = c.progression_date
        if date is None:
            date, undated = self._next_progression(c)
        if date is not None:
            if c.ended is not None:
                if date <= add_months(c.ended, self.params.refractory_months):
                    return True
                return None if undated else False
            if c.started is not None and date <= add_months(c.started, self.params.refractory_months):
                return True
            return None
        return None if undated else on

    def _next_progression(self, c: Course) -> tuple[dt.date | None, bool]:
        """(the earliest dated progression recorded on a course for metastatic disease begun after `c`, whether a
        progression without a date was recorded after it)."""
        if self.courses is None or c.started is None:
            return None, False
        dates: list[dt.date] = []
        undated = False
        for d in self.courses:
            if d is c or d.intent in CURATIVE:
                continue
            if d.started is None:
                undated = undated or bool(self.progressed_on(d) or d.progression_date)
                continue
            if d.started < c.started:
                continue
            if d.progression_date is not None:
                dates.append(d.progression_date)
            elif self.progressed_on(d):
                if d.ended is not None:
                    dates.append(d.ended)
                else:
                    undated = True
        return (min(dates) if dates else None), undated

    def intolerant_course(self, c: Course, klass: str) -> bool | None:
        """R3: stopped for toxicity of a drug of the class, without progression on it. When the drugs not
        tolerated are not recorded, a course of one class (besides the fluoropyrimidine) names it; otherwise
        which drug was not tolerated stays unknown."""
        classes = self.classes(c)
        if c.stop_reason != "toxicity" or classes is None or klass not in classes:
            return False if classes is not None or c.stop_reason not in (None, "toxicity") else None
        if self.progressed_on(c):
            return False
        if c.toxicity_drugs is not None:
            return any(self.vocab.terms["drugs"][d].klass == klass for d in c.toxicity_drugs)
        others = classes - {"fluoropyrimidine"}
        if not others:
            return klass == "fluoropyrimidine"
        if len(others) == 1 and klass in others:
            return True
        return None

    # ---- per class ----------------------------------------------------------------------------------
    def exposed(self, klass: str) -> bool | None:
        return kleene_or(self.has(c, klass) for c in self.courses or ())

    def _per_course(self, klass: str, judge) -> bool | None:
        """Kleene OR over the courses of `judge(course)`, a course of unknown drugs counting as 'maybe'."""
        results = []
        for c in self.courses or ():
            given = self.has(c, klass)
            if given is False:
                continue
            result = judge(c)
            results.append(result if given else (None if result is not False else False))
        return kleene_or(results)

    def refractory(self, klass: str) -> bool | None:
        return self._per_course(klass, self.refractory_course)

    def intolerant(self, klass: str) -> bool | None:
        return self._per_course(klass, lambda c: self.intolerant_course(c, klass))

    def failed(self, klass: str) -> bool | None:
        """R3: refractory or not tolerated."""
        return kleene_or([self.refractory(klass), self.intolerant(klass)])

    def adjuvant_oxaliplatin_failure(self) -> bool | None:
        """A1: relapse from the start of adjuvant oxaliplatin to 12 months after its end (the guideline window;
        a relapse found during the course counts: the review's case c12)."""
        months = self.params.adjuvant_oxaliplatin_months
        results = []
        for c in self.courses or ():
            if c.intent != "adjuvant":
                continue
            given = self.has(c, "oxaliplatin")
            if given is False:
                continue
            result = self.relapsed_within(c, months)
            results.append(result if given else (None if result is not False else False))
        return kleene_or(results)
