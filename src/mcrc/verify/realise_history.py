"""A counterexample's treatment history as Patient input: courses, radiotherapy, procedures, the ctDNA date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcrc.facts.history import add_months

# --- treatment history (schema 2) --------------------------------------------------------------------

# one drug per class, and the order lines are usually given in (so a counterexample reads like a real history)
_DRUG = {"fluoropyrimidine": "fluorouracil", "oxaliplatin": "oxaliplatin", "anti_egfr": "panitumumab",
         "anti_vegf": "bevacizumab", "irinotecan": "irinotecan", "braf_inhibitor": "encorafenib",
         "her2_directed": "trastuzumab", "kras_g12c_inhibitor": "sotorasib", "trk_inhibitor": "larotrectinib",
         "ret_inhibitor": "selpercatinib", "checkpoint_inhibitor": "pembrolizumab",
         "multikinase_inhibitor": "regorafenib", "thymidine_analogue": "trifluridine_tipiracil",
         "vegfr_inhibitor": "fruquintinib"}
_ORDER = list(_DRUG)
_CYTOTOXIC = {"fluoropyrimidine", "oxaliplatin", "irinotecan", "thymidine_analogue"}


def _chunks(classes: list[str], n: int) -> list[list[str]]:
    """Spread the classes over n lines in the usual order (repeating them when there are more lines)."""
    if n <= 0:
        return []
    if not classes:
        return [[] for _ in range(n)]
    if len(classes) <= n:
        return [[classes[i % len(classes)]] for i in range(n)]
    out: list[list[str]] = [[] for _ in range(n)]
    for i, klass in enumerate(classes):
        out[min(i * n // len(classes), n - 1)].append(klass)
    return out


def _filler(v: dict, cytotoxic: bool | None, progressed: bool, exclude: frozenset[str] = frozenset()) -> str | None:
    """A class to give when the facts name none: one the counterexample leaves open (not ruled out as given, nor
    as refractory for a course that progressed), cytotoxic or not as asked where possible."""
    for wanted in (cytotoxic, None):
        for klass in _ORDER:
            if klass in exclude or (wanted is not None and (klass in _CYTOTOXIC) != wanted):
                continue
            if v.get(f"{klass}_exposed") is False or (progressed and v.get(f"{klass}_refractory") is False):
                continue
            return klass
    return None


def _regimen_classes(regimen: str) -> set[str]:
    if regimen == "other":
        return {"irinotecan"}
    from mcrc.vocabulary import load_vocabulary

    return load_vocabulary().regimen_drug_classes(regimen)


def _course(intent: str, classes: list[str], **extra: Any) -> dict:
    drugs = [_DRUG[k] for k in _ORDER if k in classes]
    return {"intent": intent, **({"drugs": drugs} if drugs else {}), **extra}


def _plan(v: dict) -> list[dict]:
    """The courses, in order, without dates: refractory classes in lines that ended in progression, classes given
    but not refractory in a course that did not, a course stopped for the toxicity of the classes not tolerated."""
    flags = {k: (v.get(f"{k}_exposed"), v.get(f"{k}_refractory")) for k in _ORDER}
    # a failure is read as refractoriness unless the facts say intolerance (or refractoriness is ruled out)
    refractory = [k for k in _ORDER if flags[k][1] is True or (
        v.get(f"{k}_failed") is True and flags[k][1] is None and v.get(f"{k}_intolerant") is not True
        and not (k == "oxaliplatin" and v.get("adjuvant_oxaliplatin_failure_12m")))]
    intolerant = [k for k in ("fluoropyrimidine", "oxaliplatin", "irinotecan")
                  if k not in refractory and (v.get(f"{k}_intolerant") is True or (
                      v.get(f"{k}_failed") is True and v.get(f"{k}_refractory") is False))]
    given = [k for k in _ORDER if flags[k][0] is True and k not in refractory and k not in intolerant]
    first_chemo = v.get("first_chemotherapy_line")
    wants_chemo = None if first_chemo is None else not first_chemo
    lines = v.get("lines_received")
    failed = v.get("lines_failed")
    progressing = v.get("progressing")
    if failed is None:  # every line failed but the current one (none current when the disease progresses)
        failed = (1 if refractory else 0) if lines is None else max(lines - (progressing is not True), 0)
        if lines is not None and refractory and not failed:
            failed = min(lines, 1)
        if not failed and lines != 0 and (progressing is True or v.get("preop_progression_ever") is True
                                          or v.get("neoadjuvant_progression") is True):
            failed = 1
    adj12 = v.get("adjuvant_oxaliplatin_failure_12m")
    # no line for metastatic disease, yet a class failed without being refractory: it was not tolerated as adjuvant
    # therapy (a failure there with relapse within 6 months would itself be a line, L6)
    adjuvant_intolerant = [k for k in ("fluoropyrimidine", "oxaliplatin", "irinotecan") if lines == 0 and (
        k in intolerant or (k in refractory and flags[k][1] is not True))]
    refractory = [k for k in refractory if k not in adjuvant_intolerant]
    intolerant = [k for k in intolerant if k not in adjuvant_intolerant]

    plan: list[dict] = []
    # the adjuvant course: oxaliplatin failure within 12 months of its end (6 and more: not refractory, no line)
    if adj12 is True:
        early = "oxaliplatin" in refractory and not (failed and lines)
        fp = flags["fluoropyrimidine"][1] is True if early else flags["fluoropyrimidine"][0] is not False
        stop = {"stop_reason": "completed"}
        if adjuvant_intolerant:  # stopped for toxicity, relapse 9 months after: oxaliplatin failed, no line
            stop = {"stop_reason": "toxicity", "toxicity_drugs": [_DRUG[k] for k in adjuvant_intolerant]}
        plan.append({**_course("adjuvant", ["oxaliplatin"] + (["fluoropyrimidine"] * fp) + adjuvant_intolerant,
                               **stop), "_relapse_months": 4 if early else 9})
        if early:
            failed, lines = max(failed - 1, 0), (None if lines is None else max(lines - 1, 0))
            refractory = [k for k in refractory if k not in ("oxaliplatin", "fluoropyrimidine")]
        given = [k for k in given if k not in ("oxaliplatin", "fluoropyrimidine", *adjuvant_intolerant)]
    elif adjuvant_intolerant:  # relapse 9 months after (or 24 when an early oxaliplatin failure is ruled out)
        relapse = 24 if adj12 is False and "oxaliplatin" in adjuvant_intolerant else 9
        plan.append({**_course("adjuvant", adjuvant_intolerant, stop_reason="toxicity",
                               toxicity_drugs=[_DRUG[k] for k in adjuvant_intolerant]), "_relapse_months": relapse})
        given = [k for k in given if k not in adjuvant_intolerant]
    # preoperative therapy of the metastases
    preop_progression = v.get("preop_progression_ever") is True or v.get("neoadjuvant_progression") is True
    answered = v.get("preop_progression_ever") is True and v.get("neoadjuvant_progression") is False
    if v.get("neoadjuvant_given") is True and not preop_progression:
        iri = v.get("preop_irinotecan_effective") is True
        classes = ["fluoropyrimidine", "irinotecan"] if iri else [k for k in given if k in _CYTOTOXIC][:2] or [
            k for k in [_filler(v, True, False)] if k]
        if v.get("preop_irinotecan_effective") is False:
            classes = [k for k in classes if k != "irinotecan"] or ["fluoropyrimidine", "oxaliplatin"]
        course = _course("perioperative", classes, best_response="partial", stop_reason="planned_surgery")
        regimen = v.get("preop_irinotecan_regimen")
        if regimen is not None:  # the regimen itself (MC7); 'other': irinotecan alone matches no regimen code
            course.pop("drugs", None)
            course.update({"regimen": regimen} if regimen != "other" else {"drugs": [_DRUG["irinotecan"]]})
            classes = sorted(_regimen_classes(regimen))
        plan.append(course)
        given = [k for k in given if k not in classes]
        if lines == 0:
            given = []
    if lines == 0 and given:  # exposure without a line for metastatic disease: adjuvant therapy long ago
        plan.append({**_course("adjuvant", given, stop_reason="completed"), "_relapse_months": 24})
        given = []
    # lines that ended in progression carry the refractory classes; anti-EGFR first unless the latest had it
    n_failed = failed or 0
    order = list(refractory)
    if not order and n_failed:
        order = [k for k in [_filler(v, wants_chemo, True)] if k]
    chunks = _chunks(order, n_failed)
    if chunks and v.get("anti_egfr_free_since") is False and progressing is not False:
        for chunk in chunks[:-1]:
            if "anti_egfr" in chunk:
                chunk.remove("anti_egfr")
                chunks[-1].append("anti_egfr")
    if chunks and v.get("anti_egfr_free_since") is True and "anti_egfr" in chunks[-1]:
        if len(chunks) > 1:  # the anti-EGFR line before the latest
            chunks[-1].remove("anti_egfr")
            chunks[0].append("anti_egfr")
        elif progressing is True and lines is None:  # a later line without it, which failed too
            chunks.append([k for k in [_filler(v, wants_chemo, True, frozenset({"anti_egfr"}))] if k])
            n_failed += 1
    failed_courses = []
    for i, chunk in enumerate(chunks):
        benefit = "anti_egfr" in chunk and v.get("anti_egfr_benefit") is True
        unknown_benefit = "anti_egfr" in chunk and v.get("anti_egfr_benefit") is None
        response = None if unknown_benefit and not answered else "partial" if benefit or (answered and i > 0) else (
            "stable" if v.get("neoadjuvant_progression") is True or "anti_egfr" in chunk else "progression")
        intent = "perioperative" if preop_progression and i == 0 else "palliative"
        course = _course(intent, chunk, best_response=response, stop_reason="progression")
        failed_courses.append({k: x for k, x in course.items() if x is not None})
    # courses that did not end in progression: stopped for toxicity, and the current one
    quiet: list[dict] = []
    if intolerant:
        classes = intolerant + [k for k in given if k in _CYTOTOXIC and k not in intolerant][:1]
        quiet.append(_course("palliative", classes, best_response="stable", stop_reason="toxicity",
                             toxicity_drugs=[_DRUG[k] for k in intolerant]))
        given = [k for k in given if k not in classes]
    room = lines is None or lines > n_failed + len(quiet)  # a line left for the current course
    egfr_last = bool(chunks) and "anti_egfr" in chunks[-1] and v.get("anti_egfr_free_since") is True
    needs_current = bool(given) or (room and lines is not None) or (room and progressing is not True and (
        egfr_last or (progressing is False and (n_failed > 0 or v.get("controlled_on_chemotherapy") is True))))
    if needs_current:
        classes = given or [k for k in [_filler(v, wants_chemo, False)] if k]
        controlled, objective = v.get("controlled_on_chemotherapy"), v.get("objective_response")
        response = "partial" if objective or answered or (v.get("anti_egfr_benefit") and "anti_egfr" in classes) \
            else "stable" if controlled or objective is False else "not_evaluated"
        course = _course("palliative", classes, best_response=response, stop_reason="ongoing")
        course["_months"] = 5 if controlled or (v.get("anti_egfr_benefit") and "anti_egfr" in classes) else 1
        quiet.append(course)
    if progressing is True:
        for course in quiet:  # before the lines that failed: the latest course is one that progressed
            if course["stop_reason"] == "ongoing":
                course["stop_reason"] = "completed"
        return plan + quiet + failed_courses
    return plan + failed_courses + quiet


def _unknowns(v: dict, relevant: set[str]) -> list[dict]:
    """Courses that leave a relevant fact unknown, as the counterexample has it: adjuvant therapy whose agents were
    not recorded (exposure unknown, no relapse soon after it), and a course for metastatic disease whose agents and
    outcome were not recorded (refractoriness and the line count unknown)."""
    def unknown(name: str) -> bool:
        return name in relevant and v.get(name) is None

    out = []
    if unknown("adjuvant_oxaliplatin_failure_12m"):  # agents not recorded, relapse 9 months after: no line
        out.append({"intent": "adjuvant", "stop_reason": "completed", "_relapse_months": 9})
    elif any(unknown(f"{k}_exposed") for k in _ORDER):
        out.append({"intent": "adjuvant", "stop_reason": "completed", "_relapse_months": 24})
    lines_known = any(f in relevant and v.get(f) is not None
                      for f in ("lines_received", "lines_failed", "first_chemotherapy_line"))
    # such a course makes every class's refractoriness unknown that is not already true: none may be known false
    ruled_out = any(f"{k}_{what}" in relevant and v.get(f"{k}_{what}") is False
                    for k in _ORDER for what in ("refractory", "failed"))
    if not lines_known and not ruled_out and (
            any(unknown(f"{k}_refractory") or unknown(f"{k}_failed") for k in _ORDER)
            or unknown("lines_received") or unknown("lines_failed")):
        out.append({"intent": "palliative"})
    return out


def _dated(plan: list[dict], today: dt.date) -> list[dict]:
    """Dates backwards from today: four months a course, a fortnight between courses."""
    out: list[dict] = []
    cursor = today - dt.timedelta(days=20)  # the end of the latest finished course
    for course in reversed(plan):
        course = dict(course)
        relapse = course.pop("_relapse_months", None)
        months = course.pop("_months", 4)
        if course.get("intent") == "palliative" and "stop_reason" not in course:  # nothing recorded of it
            start = add_months(cursor, -4)
            course["started"] = start.isoformat()
            cursor = start
        elif course.get("stop_reason") == "ongoing":
            course["started"] = add_months(today, -months).isoformat()
            cursor = add_months(today, -months)
        else:
            start = add_months(cursor, -4)
            if relapse is not None:  # an adjuvant course: the relapse dates it
                end = add_months(cursor, -relapse)
                start = add_months(end, -6)
                course["progression_date"] = add_months(end, relapse).isoformat()
            else:
                end = cursor
            course["started"], course["ended"] = start.isoformat(), end.isoformat()
            if course.get("stop_reason") == "progression":
                course["progression_date"] = end.isoformat()
            cursor = start
        cursor -= dt.timedelta(days=14)
        out.append(course)
    return list(reversed(out))


def _history(v: dict, today: dt.date, relevant: set[str]) -> dict | None:
    h: dict = {}
    if v.get("systemic_history_known"):
        h["courses"] = _dated(_unknowns(v, relevant) + _plan(v), today)
    if v.get("prior_pelvic_radiotherapy") is not None:
        h["radiotherapy"] = [{"kind": "long_course_chemoradiotherapy", "site": "pelvis", "started": "2023-03-01",
                              "ended": "2023-04-10"}] if v["prior_pelvic_radiotherapy"] else []
    procs = []
    if v.get("lung_lobectomy_done") is not None or v.get("prior_liver_resection") is not None:
        if v.get("lung_lobectomy_done") or v.get("lung_resection_margin") in ("R0", "R1", "R2"):
            kind = "lung_lobectomy" if v.get("lung_lobectomy_done") else "lung_sublobar_resection"
            procs.append({"kind": kind, "date": "2024-06-01", "margin": v.get("lung_resection_margin") or "R0"})
        if v.get("prior_liver_resection"):
            procs.append({"kind": "liver_resection", "date": "2023-06-01",
                          "margin": v.get("liver_resection_margin") or "R0"})
        h["procedures"] = procs
    return h or None


def _ctdna_date(v: dict, patient: dict) -> None:
    """Date the ctDNA result after the last anti-EGFR course, or before the first course, as the facts ask."""
    ctdna = (patient.get("biomarkers") or {}).get("ctdna")
    courses = (patient.get("treatment_history") or {}).get("courses") or []
    if ctdna is None or not courses:
        return
    egfr = [c for c in courses if _DRUG["anti_egfr"] in c.get("drugs", ())]
    if v.get("ctdna_after_anti_egfr") is True and egfr:
        last = max(c.get("ended") or c.get("progression_date") or c["started"] for c in egfr)
        ctdna["date"] = (dt.date.fromisoformat(last) + dt.timedelta(days=7)).isoformat()
    else:
        ctdna["date"] = (dt.date.fromisoformat(min(c["started"] for c in courses)) - dt.timedelta(days=7)).isoformat()
