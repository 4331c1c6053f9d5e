"""Treatment history from an mCODE Bundle: courses of systemic therapy, radiotherapy, procedures (decision 0041).

Courses. Each cancer-related MedicationAdministration, MedicationRequest or MedicationStatement is one drug of a
course. Members of a course share the extension `.../mcrc-course` (a course identifier; without it, as before,
the members of a course are those with the same intent and start date). mCODE's elements are read where they
exist:
- intent: `mcode-procedure-intent`; a coding in mcrc-value names the course intents SNOMED CT has no code for
  (neoadjuvant of the primary, perioperative, conversion, maintenance) and wins over the SNOMED coding;
- why it stopped: `statusReason` (mCODE's TreatmentTerminationReasonVS, SNOMED CT): treatment completed ->
  completed, no response to treatment -> progression, not tolerated -> toxicity, refusal -> patient_choice, the
  other reasons of the value set -> other; mcrc-value codes `planned_surgery` and `other` for what the value set
  lacks. A course still being given (administration `in-progress`, statement `active`, no end) is ongoing; an
  active MedicationRequest is an order, not history. A course whose members say different things leaves its
  stop reason unknown, with a warning;
- mcrc extensions for what mCODE does not hold: `mcrc-regimen` (the regimen code, checked against the drugs),
  `mcrc-line`, `mcrc-cycles`, `mcrc-best-response`, `mcrc-progression-date`, and on a drug `mcrc-not-tolerated`
  (true: this drug was not tolerated, toxicity_drugs). A member giving "systemic therapy, agents not recorded"
  (mcrc-value `agents_not_recorded`) makes a course whose drugs are unknown.

Radiotherapy: mCODE's RadiotherapyCourseSummary (Procedure, SNOMED CT 1217123003): site by body site, dates by
performedPeriod, kind by the extension `mcrc-radiotherapy-kind` (mCODE's modality and technique codes do not say
short course, long-course chemoradiotherapy or SBRT; without the extension the course is reported, not guessed).

Completeness. A record without a medication or procedure is not a record of none. A List (status current) coded
LOINC 10160-0 (history of medication use), 47519-4 (history of procedures) or mcrc-patient
`treatment_history.radiotherapy` says the Bundle holds every course, procedure or radiotherapy course given; with
no entries and `emptyReason` nilknown it says there were none (`[]`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcrc.fhir.read_mcrc import EXT, PATIENT_CS, REGIMEN_CS, VALUE_CS
from mcrc.vocabulary import load_vocabulary

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RADIOTHERAPY_COURSE = "1217123003"  # Radiotherapy course of treatment (regime/therapy); mCODE SD_Radiotherapy.fsh
# mCODE TreatmentTerminationReasonVS (VS_Other.fsh) -> Course.stop_reason
TERMINATION = {"182992009": "completed", "266721009": "progression", "407563006": "toxicity",
               "105480006": "patient_choice", "160932005": "other", "184081006": "other", "309846006": "other",
               "399307001": "other", "419620001": "other", "7058009": "other", "443729008": "other",
               "77386006": "other"}
STOP_WORDS = ("completed", "progression", "toxicity", "patient_choice", "planned_surgery", "other")
RT_SITES = {"12921003": "pelvis", "39607008": "lung", "10200004": "liver", "3138006": "bone",
            "12738006": "brain"}  # Pelvis, lung, liver, bone, brain structure
RT_KINDS = ("short_course", "long_course_chemoradiotherapy", "sbrt", "conventional", "other")
RT_SITE_WORDS = ("pelvis", "lung", "liver", "bone", "brain", "other")
HISTORY_LISTS = {(LOINC, "10160-0"): "courses", (LOINC, "47519-4"): "procedures",
                 (PATIENT_CS, "treatment_history.radiotherapy"): "radiotherapy"}
PROCEDURE_KINDS = ("primary_resection", "lung_sublobar_resection", "lung_lobectomy", "lung_ablation",
                   "liver_resection", "liver_ablation", "stent", "colostomy", "hai_pump", "cytoreduction_hipec",
                   "cytoreduction", "diverting_ostomy", "bypass", "tace", "tare")
INTENT_WORDS = ("adjuvant", "neoadjuvant", "perioperative", "conversion", "palliative", "maintenance")
BEST_RESPONSES = ("complete", "partial", "response", "stable", "progression", "not_evaluated")
NO_AGENTS = "agents_not_recorded"
ONGOING_STATUS = {"MedicationAdministration": "in-progress", "MedicationStatement": "active"}


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    try:
        return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def _codes(cc: Any, system: str) -> list[str]:
    return [c.code for c in (cc.coding or []) if c.system == system and c.code] if cc is not None else []


def ext(res: Any, name: str) -> Any:
    """The first mcrc extension `name` on a resource (or None)."""
    for e in res.extension or []:
        if e.url == EXT + name:
            return e
    return None


def value_word(res: Any, name: str) -> str | None:
    e = ext(res, name)
    if e is None or e.valueCodeableConcept is None:
        return None
    words = _codes(e.valueCodeableConcept, VALUE_CS) or _codes(e.valueCodeableConcept, REGIMEN_CS)
    return words[0] if words else None


def history_list(reader: Any, res: Any) -> None:
    keys = {HISTORY_LISTS[(c.system, c.code)] for c in (res.code.coding or []) if (c.system, c.code) in HISTORY_LISTS} \
        if res.code else set()
    if len(keys) != 1:
        reader.skip(res, "List code is not a treatment history list (LOINC 10160-0, 47519-4 or mcrc-patient "
                         "treatment_history.radiotherapy)")
        return
    if res.status != "current":
        reader.skip(res, f"List status '{res.status}' (only a current list says the history is complete)")
        return
    key = keys.pop()
    empty = _codes(res.emptyReason, "http://terminology.hl7.org/CodeSystem/list-empty-reason")
    if not res.entry and "nilknown" not in empty:
        reader.skip(res, "an empty List without emptyReason 'nilknown' does not say none were given")
        return
    reader.complete.add(key)


def radiotherapy(reader: Any, res: Any) -> None:
    where = f"Procedure/{res.id or '(no id)'}"
    if res.status not in ("completed", "in-progress", "stopped"):
        reader.skip(res, f"radiotherapy status '{res.status}' (not given)")
        return
    kind = value_word(res, "mcrc-radiotherapy-kind")
    if kind not in RT_KINDS:
        _not_recorded(reader, f"{where}.extension: radiotherapy kind not given ({EXT}mcrc-radiotherapy-kind: "
                      f"{', '.join(RT_KINDS)}); course not recorded", "radiotherapy")
        return
    sites = {RT_SITES[c] for bs in res.bodySite or [] for c in _codes(bs, SNOMED) if c in RT_SITES}
    sites |= {c for bs in res.bodySite or [] for c in _codes(bs, VALUE_CS) if c in RT_SITE_WORDS}
    if len(sites) != 1:
        _not_recorded(reader, f"{where}.bodySite: " + ("several sites" if sites else "site not recognised")
                      + "; course not recorded", "radiotherapy")
        return
    rt: dict[str, Any] = {"kind": kind, "site": sites.pop()}
    period = res.performedPeriod
    if period is not None and _date(period.start):
        rt["started"] = _date(period.start)
    if period is not None and _date(period.end):
        rt["ended"] = _date(period.end)
    reader.radiotherapy.append(rt)


def procedure_kind(res: Any) -> str | None:
    words = [c for c in _codes(res.code, VALUE_CS) if c in PROCEDURE_KINDS]
    return words[0] if len(set(words)) == 1 else None


def margin(res: Any) -> str | None:
    word = value_word(res, "mcrc-resection-margin")
    return word if word in ("R0", "R1", "R2") else None


def intent(res: Any, snomed_intents: dict[str, str], urls: tuple[str, ...]) -> str | None:
    for e in res.extension or []:
        if e.url in urls and e.valueCodeableConcept is not None:
            words = [c for c in _codes(e.valueCodeableConcept, VALUE_CS) if c in INTENT_WORDS]
            if words:
                return words[0]
            for c in _codes(e.valueCodeableConcept, SNOMED):
                if c in snomed_intents:
                    return snomed_intents[c]
    return None


def _stop(res: Any) -> tuple[str | None, str | None]:
    """(stop reason, problem) of one member."""
    if res.status == ONGOING_STATUS.get(res.__resource_type__):
        return "ongoing", None
    given = res.statusReason
    reasons = []
    for cc in given if isinstance(given, list) else [given] if given is not None else []:
        reasons += [TERMINATION[c] for c in _codes(cc, SNOMED) if c in TERMINATION]
        reasons += [w for w in _codes(cc, VALUE_CS) if w in STOP_WORDS]
    if len(set(reasons)) > 1:
        return None, "statusReason gives several reasons"
    if given and not reasons:
        return None, "statusReason not recognised (mCODE TreatmentTerminationReasonVS or mcrc-value)"
    return (reasons[0] if reasons else None), None


def _not_recorded(reader: Any, message: str, key: str = "courses") -> None:
    """A course (or radiotherapy course) the Bundle holds but mcrc cannot record: reported, and the list it belongs
    to is left unknown (a list without it would undercount the lines given)."""
    reader.unmapped.append(message)
    reader.incomplete.add(key)


def courses(reader: Any, intents: dict[str, str], intent_urls: tuple[str, ...],
            modulators: set[str]) -> list[dict[str, Any]]:
    """Group the medications into courses (see the module's description)."""
    vocab = load_vocabulary()
    by_drugs: dict[frozenset[str], list[str]] = {}
    for code in vocab.codes("regimens"):
        by_drugs.setdefault(frozenset(vocab.get("regimens", code).drugs), []).append(code)
    groups: dict[Any, list[tuple[str, Any, str | None]]] = {}
    for ref, res, drug in reader.meds:
        course_id = ext(res, "mcrc-course")
        the_intent = intent(res, intents, intent_urls)
        period = getattr(res, "effectivePeriod", None)
        start = _date(period.start) if period else _date(getattr(res, "effectiveDateTime", None))
        if start is None and res.__resource_type__ == "MedicationRequest":
            start = _date(res.authoredOn)
        key = ("id", course_id.valueString) if course_id is not None and course_id.valueString else \
            ("by", the_intent, start)
        groups.setdefault(key, []).append((ref, res, drug))
    out = []
    for key, members in groups.items():
        refs = ", ".join(m[0] for m in members)
        explicit = key[0] == "id"
        found = {intent(m[1], intents, intent_urls) for m in members}
        if len(found) != 1 or None in found:
            _not_recorded(reader, f"{refs}: " + ("no treatment intent (mcode-procedure-intent); course not recorded"
                                                  if found == {None} else "members give different intents; "
                                                  "course not recorded"))
            continue
        course: dict[str, Any] = {"intent": found.pop()}
        agents_unknown = any(m[2] is None for m in members)
        drugs = frozenset(m[2] for m in members if m[2] is not None) - modulators
        regimen_words = {value_word(m[1], "mcrc-regimen") for m in members} - {None}
        if agents_unknown:
            if drugs or regimen_words:
                _not_recorded(reader, f"{refs}: 'agents not recorded' beside named drugs; course not recorded")
                continue
        elif len(regimen_words) > 1:
            _not_recorded(reader, f"{refs}: members name different regimens; course not recorded")
            continue
        elif regimen_words:
            word = regimen_words.pop()
            if not vocab.has("regimens", word) or frozenset(vocab.get("regimens", word).drugs) != drugs:
                _not_recorded(reader, f"{refs}: regimen '{word}' does not match the drugs given "
                                       f"({', '.join(sorted(drugs)) or 'none'}); course not recorded")
                continue
            course["regimen"] = word
        elif not drugs:
            _not_recorded(reader, f"{refs}: no drug mcrc recognises; course not recorded")
            continue
        elif explicit:
            course["drugs"] = sorted(drugs)
        else:  # no mcrc extension: a unique regimen of the vocabulary, else the drugs themselves
            regimens = by_drugs.get(drugs, [])
            if len(regimens) == 1:
                course["regimen"] = regimens[0]
            else:
                course["drugs"] = sorted(drugs)
                which = f"any of {', '.join(regimens)}" if regimens else "no regimen of the vocabulary"
                reader.warnings.append(f"{refs}: recorded as the drugs {', '.join(sorted(drugs))} ({which})")
        starts = [_date(m[1].effectivePeriod.start) for m in members
                  if getattr(m[1], "effectivePeriod", None) and m[1].effectivePeriod.start]
        if not starts:
            starts = [d for m in members for d in [_date(getattr(m[1], "effectiveDateTime", None))
                                                   or _date(getattr(m[1], "authoredOn", None))] if d]
        ends = [_date(m[1].effectivePeriod.end) for m in members
                if getattr(m[1], "effectivePeriod", None) and m[1].effectivePeriod.end]
        if starts:
            course["started"] = min(starts)
        if ends:
            course["ended"] = max(ends)
        _course_details(reader, course, members, refs)
        out.append(course)
    return sorted(out, key=lambda c: c.get("started") or dt.date.min) if not any(
        k[0] == "id" for k in groups) else out


def _one(reader: Any, refs: str, what: str, values: list[Any]) -> Any:
    """The one value the members give (None when none does); members that disagree leave it unknown."""
    given = [v for v in values if v is not None]
    if len(set(map(str, given))) > 1:
        reader.warnings.append(f"{refs}: members give different {what}; left unknown")
        return None
    return given[0] if given else None


def _course_details(reader: Any, course: dict[str, Any], members: list[tuple[str, Any, str | None]],
                    refs: str) -> None:
    stops = []
    for ref, res, _ in members:
        stop, problem = _stop(res)
        if problem:
            reader.unmapped.append(f"{ref}.statusReason: {problem}")
        stops.append(stop)
    stop = _one(reader, refs, "stop reasons", stops)
    if stop == "ongoing" and "ended" in course:
        reader.warnings.append(f"{refs}: still being given but an end date is recorded; stop reason left unknown")
        stop = None
    if stop:
        course["stop_reason"] = stop
    for name, key in (("mcrc-line", "line"), ("mcrc-cycles", "cycles")):
        value = _one(reader, refs, key, [getattr(ext(m[1], name), "valuePositiveInt", None) for m in members])
        if value is not None:
            course[key] = value
    best = _one(reader, refs, "best responses", [value_word(m[1], "mcrc-best-response") for m in members])
    if best in BEST_RESPONSES:
        course["best_response"] = best
    prog = _one(reader, refs, "progression dates",
                [_date(getattr(ext(m[1], "mcrc-progression-date"), "valueDate", None)) for m in members])
    if prog:
        course["progression_date"] = prog
    flagged = [(m[2], getattr(ext(m[1], "mcrc-not-tolerated"), "valueBoolean", None)) for m in members]
    bad = sorted({d for d, v in flagged if v is True and d is not None})
    if bad:
        if course.get("stop_reason") == "toxicity":
            course["toxicity_drugs"] = bad
        else:
            reader.warnings.append(f"{refs}: a drug marked not tolerated but the course did not stop for toxicity; "
                                   "not recorded")
