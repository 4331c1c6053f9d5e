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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mcrc.catalog import HISTORY_CLASSES as CLASSES
from mcrc.catalog import INTOLERANCE_CLASSES, PREOP_IRINOTECAN_REGIMENS
from mcrc.patient import Course, Lesion, Patient
from mcrc.vocabulary import Vocabulary

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


def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar-month arithmetic, clamping to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    import calendar

    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


__all__ = ["CLASSES", "INTOLERANCE_CLASSES", "History", "Params", "liver_dominant"]


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


class History:
    """One patient's recorded courses with the questions the rules ask of them."""

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

    # ---- lines --------------------------------------------------------------------------------------
    def lines(self) -> tuple[int | None, int | None, list[list[Course]]]:
        """(lines received, lines that ended in progression, the courses of each line) for metastatic disease.

        L5: conversion and palliative courses are lines; L6: a (neo)adjuvant or perioperative course followed by
        relapse within 6 months of its end is a failed first line; L3: maintenance continues its line, and the
        induction regimen reintroduced after progression on maintenance stays in it; L1, L2, L4: a course after
        progression, a new cytotoxic class or a switch for toxicity to another drug starts a line; the same
        classes restarted within 180 days, a fluoropyrimidine swapped, drugs dropped, or a biologic added within
        180 days (anti-EGFR 90) of the line's start continue it. None when the record cannot settle a count."""
        if self.courses is None:
            return None, None, []
        lines: list[list[Course]] = []
        uncertain = False
        for c in self.courses:
            if c.intent in ("adjuvant", "neoadjuvant", "perioperative"):
                early = self.relapsed_within(c, self.params.curative_refractory_months) if c.intent in CURATIVE \
                    else self._perioperative_early_relapse(c)
                if early:
                    lines.append([c])
                elif early is None:
                    uncertain = True  # whether it was a failed first line (L6) is not recorded
                continue
            if c.intent == "maintenance":
                if lines:
                    lines[-1].append(c)
                else:
                    lines.append([c])  # maintenance of an induction not recorded: that line
                continue
            if not lines:
                lines.append([c])
                continue
            same = self._continues(lines[-1], c)
            if same is None:
                uncertain = True
                lines.append([c])
            elif same:
                lines[-1].append(c)
            else:
                lines.append([c])
        if uncertain:
            return None, None, lines
        failed = [kleene_or(self.progressed(c) for c in line[-1:]) for line in lines]
        return len(lines), (None if None in failed else sum(bool(f) for f in failed)), lines

    def _perioperative_early_relapse(self, c: Course) -> bool | None:
        """L6 by extension: progression on perioperative therapy or relapse within 6 months after it."""
        if self.progressed_on(c):
            return True
        date = c.progression_date
        if date is None:
            return False if c.stop_reason is not None or c.best_response is not None else None
        if c.ended is None:
            return None
        return date <= add_months(c.ended, self.params.curative_refractory_months)

    def _continues(self, line: list[Course], c: Course) -> bool | None:
        """Whether course `c` continues the line (L1-L4)."""
        previous = line[-1]
        before, now = self.classes(previous), self.classes(c)
        if before is not None and now is not None and now - before and not (now - before) <= BIOLOGICS:
            return False  # L1: a later, non-interchangeable cytotoxic or targeted class
        progressed = self.progressed(previous)
        if progressed:
            induction = self.classes(line[0])
            # L3: the induction regimen reintroduced after progression on maintenance stays in the first line
            return previous.intent == "maintenance" and induction is not None and now == induction
        if progressed is None or before is None or now is None:
            return None
        if previous.stop_reason == "toxicity" and now != before:
            return False  # L4: an unplanned switch for toxicity to other drugs is a new line
        if now < before:
            return True  # L2: drugs dropped
        if now == before:  # L2: restarted, or a fluoropyrimidine swapped for another
            gap = (c.started - previous.ended).days if c.started and previous.ended else None
            return None if gap is None else gap <= self.params.same_line_gap_days
        # L2: only a biologic added, within 180 days of the line's start (90 for an anti-EGFR antibody)
        start = line[0].started
        if start is None or c.started is None:
            return None
        limit = self.params.anti_egfr_added_days if "anti_egfr" in now - before else self.params.biologic_added_days
        return (c.started - start).days <= limit

    def first_chemotherapy_line(self, lines: list[list[Course]], lines_received: int | None) -> bool | None:
        """A first chemotherapy line for metastatic disease is due: no line so far held a cytotoxic drug, and
        none is working now (none given, or the latest progressed). After progression on first-line
        immunotherapy, the first-line chemotherapy options apply (the review's case c14)."""
        if self.courses is None:
            return None
        chemo = kleene_or(kleene_or(self._cytotoxic(c) for c in line) for line in lines)
        if chemo is None or (chemo is False and lines_received is None):
            return None
        if chemo:
            return False
        return True if lines_received == 0 else self.progressing()

    def _cytotoxic(self, c: Course) -> bool | None:
        classes = self.classes(c)
        return None if classes is None else bool(classes & CYTOTOXIC_CLASSES)

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


def liver_dominant(lesions: Sequence[Lesion] | None, params: dict) -> bool | None:
    """D1 (SIRFLOX's eligibility): liver metastases with, besides them, at most small lung nodules (fewer than 5,
    each at most 10 mm, or one at most 17 mm) and one nodal area under 20 mm; any other site makes the disease
    not liver-dominant. Unknown when a count or size needed is not recorded."""
    if lesions is None:
        return None
    organs = {m.organ for m in lesions}
    if "liver" not in organs:
        return False
    if organs - {"liver", "lung", "distant_lymph_nodes"}:
        return False
    checks: list[bool | None] = []
    lung = [m for m in lesions if m.organ == "lung"]
    if lung:
        counts = [m.lesion_count() for m in lung]  # a site's own count and size, else its listed lesions' (0036)
        sizes = [m.largest_mm() for m in lung]
        count = None if None in counts else sum(counts)
        size = None if None in sizes else max(sizes)
        if (count is not None and count >= params["max_lung_nodules"]) or (
                size is not None and size > params["single_lung_nodule_mm"]):
            checks.append(False)
        elif count is None or size is None:
            checks.append(None)
        else:
            checks.append(size <= (params["single_lung_nodule_mm"] if count == 1 else params["lung_nodule_mm"]))
    nodes = [m for m in lesions if m.organ == "distant_lymph_nodes"]
    if nodes:
        if len(nodes) > 1:
            checks.append(False)
        else:
            n = nodes[0]
            if n.count is not None and n.count > 1:
                checks.append(None)  # several nodes may still be one nodal area
            size = n.largest_size.mm if n.largest_size else None
            checks.append(None if size is None else size < params["node_area_mm"])
    return kleene_and(checks)
