"""Lines of therapy for metastatic disease (L1-L6), and whether a first chemotherapy line is due."""

from __future__ import annotations

from mcrc.facts.history.conventions import BIOLOGICS, CURATIVE, CYTOTOXIC_CLASSES, add_months, kleene_or
from mcrc.facts.history.standing import DiseaseStanding
from mcrc.patient import Course


class LinesOfTherapy(DiseaseStanding):
    """The courses grouped into lines of therapy (a first chemotherapy line asks where the disease stands)."""

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
