"""Schema 1 to schema 2: which documents are schema 1, what schema 1 refused, and the upgrade with its path map."""

from __future__ import annotations

from typing import Any

from mcrc.errors import Problem

# ---- schema 1 -> 2 -----------------------------------------------------------------------------
# Schema 1 recorded a course's `setting` and one `outcome`; schema 2 its `intent`, `best_response` and `stop_reason`
# (and radiotherapy apart from procedures). The mapping keeps what schema 1 said and invents nothing: an outcome
# says either why the course stopped or how it responded, never both (decision record 0026).
_V1_OUTCOME = {"progression": ("stop_reason", "progression"), "completed": ("stop_reason", "completed"),
               "intolerance": ("stop_reason", "toxicity"), "response": ("best_response", "response"),
               "stable": ("best_response", "stable")}
_V1_RADIOTHERAPY = {"pelvic_radiotherapy": ("other", "pelvis"), "lung_sbrt": ("sbrt", "lung")}
_V1_FLUOROPYRIMIDINE_ONLY = {"CAPECITABINE", "FU_LV"}


_V2_COURSE_FIELDS = {"intent", "drugs", "cycles", "best_response", "stop_reason", "toxicity_drugs"}


def is_v1(data: dict[str, Any]) -> bool:
    """A schema-1 document: it says so, or it states no version and uses nothing that only schema 2 has (a
    course's intent, drugs, cycles, best response or stop reason; a radiotherapy list). Read as schema 1, a
    procedure list without pelvic radiotherapy says none was given, as it did when it was written."""
    if "schema_version" in data:  # given: "1" is schema 1; anything else is for validation to judge
        return data["schema_version"] == "1"
    hist = data.get("treatment_history")
    if not isinstance(hist, dict):
        return True
    if "radiotherapy" in hist:
        return False
    courses = hist.get("courses") if isinstance(hist.get("courses"), list) else []
    return not any(isinstance(c, dict) and _V2_COURSE_FIELDS & c.keys() for c in courses)


_V1_SETTINGS = ("adjuvant", "neoadjuvant", "conversion", "palliative")


def v1_problems(data: dict[str, Any]) -> list[Problem]:
    """What schema 1 itself refused in the parts the upgrade rewrites (a course's setting and outcome), named by
    the paths the sender wrote and with schema 1's allowed values."""
    hist = data.get("treatment_history")
    courses = hist.get("courses") if isinstance(hist, dict) else None
    problems = []
    for i, c in enumerate(courses if isinstance(courses, list) else ()):
        if not isinstance(c, dict):
            continue
        where = f"treatment_history.courses[{i}]"
        if "setting" in c and c["setting"] not in _V1_SETTINGS:
            problems.append(Problem(f"{where}.setting", f"{c['setting']!r} is not a schema-1 setting",
                                    ", ".join(_V1_SETTINGS)))
        if c.get("outcome") is not None and c["outcome"] not in _V1_OUTCOME:
            problems.append(Problem(f"{where}.outcome", f"{c['outcome']!r} is not a schema-1 outcome",
                                    ", ".join(_V1_OUTCOME)))
    return problems


def upgrade_v1(data: dict[str, Any], paths: dict[str, str] | None = None) -> dict[str, Any]:
    """A schema-1 patient as schema 2 (a new dict; anything not understood is left for validation to name).

    - `setting` becomes `intent`; a schema-1 "neoadjuvant" course was preoperative therapy of either the primary
      or the metastases: "neoadjuvant" (the primary) when it is a fluoropyrimidine alone and pelvic
      radiotherapy was given (the sensitiser of chemoradiotherapy), else "perioperative" (schema 1's engine
      read it as preoperative therapy of the metastases);
    - `outcome` "progression", "completed", "intolerance" become `stop_reason` progression, completed,
      toxicity; "response" and "stable" become `best_response`;
    - procedures "pelvic_radiotherapy" and "lung_sbrt" become radiotherapy courses (pelvis; SBRT of the lung);
      their other keys go along, so a key schema 1 refused is still refused.

    `paths`, when given, is filled with each rewritten schema-2 path and the schema-1 path it came from, so that
    a problem can be reported where the sender wrote it.
    """
    paths = {} if paths is None else paths
    out = {**data, "schema_version": "2"}
    hist = data.get("treatment_history")
    if not isinstance(hist, dict):
        return out
    hist = dict(hist)
    procedures = hist.get("procedures")
    pelvic_rt = False
    if isinstance(procedures, list):
        kept, radiotherapy = [], list(hist.get("radiotherapy") or [])
        for i, p in enumerate(procedures):
            if isinstance(p, dict) and p.get("kind") in _V1_RADIOTHERAPY:
                kind, site = _V1_RADIOTHERAPY[p["kind"]]
                pelvic_rt |= site == "pelvis"
                rt = {"kind": kind, "site": site, **{k: v for k, v in p.items() if k not in ("kind", "date")}}
                new = f"treatment_history.radiotherapy[{len(radiotherapy)}]"
                paths[new] = f"treatment_history.procedures[{i}]"
                if p.get("date") is not None:
                    rt["started"] = p["date"]
                    paths[f"{new}.started"] = f"treatment_history.procedures[{i}].date"
                radiotherapy.append(rt)
            else:
                if len(kept) != i:
                    paths[f"treatment_history.procedures[{len(kept)}]"] = f"treatment_history.procedures[{i}]"
                kept.append(p)
        hist["procedures"] = kept
        hist["radiotherapy"] = radiotherapy  # schema 1 recorded radiotherapy among the procedures: known
    courses = hist.get("courses")
    if isinstance(courses, list):
        upgraded = []
        for i, c in enumerate(courses):
            if not isinstance(c, dict):
                upgraded.append(c)
                continue
            c = dict(c)
            where = f"treatment_history.courses[{i}]"
            if "setting" in c and "intent" not in c:
                setting = c.pop("setting")
                if setting == "neoadjuvant":
                    primary = pelvic_rt and c.get("regimen") in _V1_FLUOROPYRIMIDINE_ONLY
                    setting = "neoadjuvant" if primary else "perioperative"
                c["intent"] = setting
                paths[f"{where}.intent"] = f"{where}.setting"
            if "outcome" in c:
                outcome = c.pop("outcome")
                if outcome in _V1_OUTCOME:
                    key, value = _V1_OUTCOME[outcome]
                    c.setdefault(key, value)
                    paths[f"{where}.{key}"] = f"{where}.outcome"
                elif outcome is not None:
                    c["outcome"] = outcome  # not a schema-1 value (v1_problems names it first)
            upgraded.append(c)
        hist["courses"] = upgraded
    out["treatment_history"] = hist
    return out


def _sender_path(where: str, paths: dict[str, str]) -> str:
    """The schema-1 path of a problem found in the upgraded document (the longest rewritten prefix)."""
    for new in sorted(paths, key=len, reverse=True):
        if where == new or where.startswith((new + ".", new + "[")):
            return paths[new] + where[len(new):]
    return where
