"""Synthetic cohorts for tests and benchmarks: plausible mCRC decision points with gaps and deviations.

Facts are never drawn column by column: a random *Patient* is drawn (site mix, biomarker rates,
treatment history, fitness, each field left out now and then) and the real derivation turns it into
facts, so every row is a combination a real record can produce. What was done follows a fired
treatment row most of the time, departs from it sometimes, and is missing sometimes. A registry
repeats profiles (many decision points per patient and many similar patients), so decision points
draw from a pool of distinct patients; the pool size is a parameter and is reported.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from mcrc.cohort.plan import Plan, build_plan
from mcrc.cohort.schema import COLUMNS, DECISION_ID, DONE_ACTION, DONE_REGIMEN, polars_schema
from mcrc.engine import evaluate_rows
from mcrc.errors import InputError
from mcrc.facts import derive_facts
from mcrc.facts.catalog import FACTS
from mcrc.knowledge import KnowledgeBase, load_knowledge
from mcrc.logic import Tri
from mcrc.patient import parse_patient

TODAY = dt.date(2026, 6, 30)
CENTRES = tuple(f"C{i:02d}" for i in range(1, 13))
YEARS = tuple(range(2017, 2026))
REGIMENS = ("FOLFOX", "CAPOX", "FOLFIRI", "FOLFOXIRI", "FOLFOX_BEV", "FOLFIRI_CETUXIMAB", "FOLFOX_PANITUMUMAB",
            "CAPECITABINE", "TRIFLURIDINE_TIPIRACIL_BEV", "REGORAFENIB", "PEMBROLIZUMAB")


def _maybe(rng: random.Random, value: Any, p_unknown: float) -> Any:
    return None if rng.random() < p_unknown else value


def _pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _date(rng: random.Random, start: int, end: int) -> str:
    return (TODAY - dt.timedelta(days=rng.randint(start, end))).isoformat()


def random_patient(rng: random.Random, p_unknown: float = 0.08) -> dict[str, Any]:
    """One plausible patient with metastatic colorectal cancer; fields are dropped with `p_unknown`."""
    u = p_unknown
    location = _pick(rng, {"rectum": 30, "sigmoid_colon": 25, "caecum": 9, "ascending_colon": 9, "transverse_colon": 7,
                           "descending_colon": 5, "rectosigmoid": 8, "hepatic_flexure": 3, "splenic_flexure": 4})
    primary: dict[str, Any] = {
        "location": _maybe(rng, location, u), "ct": _maybe(rng, _pick(rng, {"T2": 1, "T3": 5, "T4": 3}), u),
        "cn": _maybe(rng, _pick(rng, {"N0": 2, "N1": 4, "N2": 3}), u),
        "status": _maybe(rng, _pick(rng, {"in_place": 55, "resected": 40, "local_recurrence": 5}), u),
        "resectability": _maybe(rng, _pick(rng, {"resectable": 6, "potentially_resectable": 2, "unresectable": 2}), u),
        "emergency": _maybe(rng, _pick(rng, {"none": 90, "bleeding": 3, "obstruction": 4, "impending_obstruction": 2,
                                             "perforation": 1}), u),
        "diagnosed": _maybe(rng, _date(rng, 200, 1500), u),
    }
    if location == "rectum":
        primary["distance_from_anal_verge_cm"] = _maybe(rng, rng.choice([3, 5, 7, 9, 11, 13]), u)
    organs = rng.choices(["liver", "lung", "peritoneum", "distant_lymph_nodes", "bone", "ovary", "adrenal"],
                         weights=[50, 30, 15, 8, 4, 2, 1], k=rng.choice([1, 1, 1, 2, 2, 3]))
    metastases = []
    for organ in dict.fromkeys(organs):
        lesion: dict[str, Any] = {
            "organ": organ, "count": _maybe(rng, rng.choice([1, 1, 2, 3, 4, 6, 10]), u),
            "resectability": _maybe(rng, _pick(rng, {"resectable": 4, "potentially_resectable": 3,
                                                     "unresectable": 5}), u),
            "largest_size": _maybe(rng, {"value": rng.randint(4, 80), "unit": "mm"}, u),
            "symptomatic": _maybe(rng, rng.random() < 0.1, u),
            "nature_indeterminate": _maybe(rng, rng.random() < 0.05, u),
            "found": _maybe(rng, _date(rng, 30, 900), u),
        }
        if organ == "lung":
            lesion.update(bilateral=_maybe(rng, rng.random() < 0.4, u),
                          zone=_maybe(rng, rng.choice(["outer", "middle", "inner", "perivascular"]), u),
                          hilar_mediastinal_nodes=_maybe(rng, rng.random() < 0.1, u),
                          lymphangitic=_maybe(rng, rng.random() < 0.03, u))
        if organ == "liver":
            lesion.update(major_resection_needed=_maybe(rng, rng.random() < 0.3, u),
                          small_and_accessible=_maybe(rng, rng.random() < 0.3, u))
        if organ == "peritoneum":
            lesion.update(pci=_maybe(rng, rng.randint(1, 30), u),
                          p_category=_maybe(rng, rng.choice(["P1", "P2", "P3"]), u))
        metastases.append(lesion)
    kras = _pick(rng, {"wild_type": 55, "mutant": 45})
    biomarkers = {
        "kras": _maybe(rng, kras, u), "nras": _maybe(rng, _pick(rng, {"wild_type": 95, "mutant": 5}), u),
        "braf": _maybe(rng, _pick(rng, {"wild_type": 90, "v600e": 8, "non_v600e": 2}), u),
        "mmr": _maybe(rng, _pick(rng, {"proficient": 95, "deficient": 5}), u),
        "her2": _maybe(rng, _pick(rng, {"negative": 96, "positive": 4}), u),
        "specimen": _maybe(rng, rng.choice(["primary", "metastasis"]), u),
    }
    if kras == "mutant":
        biomarkers["kras_variant"] = _maybe(rng, _pick(rng, {"G12D": 4, "G12V": 3, "G13D": 2, "G12C": 1}), u)
    courses = []
    for line in range(1, rng.choice([0, 0, 1, 1, 2, 3]) + 1):
        started = TODAY - dt.timedelta(days=400 * (4 - line) + rng.randint(0, 100))
        ended = started + dt.timedelta(days=150)
        outcome = _maybe(rng, _pick(rng, {"progression": 5, "response": 2, "stable": 2}), u)
        course = {"intent": "palliative", "line": line, "regimen": rng.choice(REGIMENS),
                  "started": started.isoformat(), "ended": ended.isoformat()}
        if outcome == "progression":  # schema 2: why it stopped and when the disease progressed
            course.update(stop_reason="progression", progression_date=ended.isoformat())
        elif outcome is not None:  # a response or stable disease, the course completed
            course.update(best_response="partial" if outcome == "response" else "stable", stop_reason="completed")
        courses.append(course)
    patient: dict[str, Any] = {
        "schema_version": "2",
        "age": _maybe(rng, max(25, min(95, int(rng.gauss(65, 11)))), u),
        "sex": _maybe(rng, rng.choice(["female", "male"]), u),
        "ecog": _maybe(rng, _pick(rng, {0: 40, 1: 40, 2: 14, 3: 6}), u),
        "cea_ng_ml": _maybe(rng, round(rng.lognormvariate(2.5, 1.4), 1), u),
        "primary": primary, "metastases": _maybe(rng, metastases, u / 2), "biomarkers": biomarkers,
        "tumour_burden": _maybe(rng, rng.choice(["low", "high"]), u * 3),
        "region": _maybe(rng, _pick(rng, {"europe": 6, "north_america": 3, "china": 2, "japan": 1, "other": 1}), u),
        "treatment_history": _maybe(rng, {"courses": courses, "procedures": []}, u),
        "fitness": {"fit_for_surgery": _maybe(rng, rng.random() < 0.8, u),
                    "fit_for_intensive_therapy": _maybe(rng, rng.random() < 0.6, u * 2),
                    "adequate_organ_function": _maybe(rng, rng.random() < 0.9, u * 2)},
        "preferences": {"declines_surgery": _maybe(rng, rng.random() < 0.05, u),
                        "wishes_organ_preservation": _maybe(rng, rng.random() < 0.05, u)},
        "symptoms": {"bone_pain": _maybe(rng, rng.random() < 0.05, u)},
        "ned": _maybe(rng, rng.random() < 0.1, u),
    }
    _lesion_details(random.Random(hash(rng.getstate())), patient, courses, u)
    return patient


def _lesion_details(rng: random.Random, patient: dict[str, Any], courses: list[dict[str, Any]], u: float) -> None:
    """Lesions listed one by one, bilobar and disappearing liver metastases, complete response (decision 0036),
    drawn from a generator of their own so that the patients drawn before these fields existed stay the same."""
    mets = patient["metastases"]
    treated = bool(courses) and patient["treatment_history"] is not None
    for site in mets or ():
        count = site.get("count")
        if site["organ"] == "lung" and count in (1, 2, 3) and rng.random() < 0.4:
            zone = site.pop("zone", None) if count > 1 else site.get("zone")
            sides = {True: ["left", "right", "right"], False: ["right"] * 3}.get(site.get("bilateral"), [None] * 3)
            if count == 1 and site.get("bilateral"):
                sides = [None]
            size = site.get("largest_size")
            listed = []
            for i in range(count):
                lesion = {"zone": zone if count == 1 else _maybe(rng, rng.choice(["outer", "middle", "inner"]), u),
                          "side": sides[i],
                          "suitable_for_resection": _maybe(rng, rng.random() < 0.7, u * 3)}
                if size is not None:
                    lesion["size"] = size if i == 0 else {"value": max(1, size["value"] // 2), "unit": size["unit"]}
                listed.append({k: v for k, v in lesion.items() if v is not None})
            site["lesions"] = listed
        if site["organ"] == "liver":
            site["bilobar"] = _maybe(rng, rng.random() < 0.4, u * 3)
            if treated and count is not None and rng.random() < 0.3:
                gone = rng.choice([0, 0, 1, count])
                site["disappeared_count"] = gone
                site["complete_response"] = gone == count if rng.random() < 0.5 else None


def profiles(n: int, seed: int, kb: KnowledgeBase) -> list[dict[str, Any]]:
    """`n` distinct-by-draw fact rows derived from random patients (a rejected draw is drawn again)."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    while len(out) < n:
        try:
            patient = parse_patient(random_patient(rng), today=TODAY)
        except InputError:
            continue
        out.append(derive_facts(patient, kb.definitions).values)
    return out


def _treatments(kb: KnowledgeBase, plan: Plan, facts: dict[str, Any]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(actions, regimens) of each fired treatment row, as the engine evaluates them."""
    from mcrc.facts.model import Facts

    out = []
    for _table, _applies, results in evaluate_rows(kb, Facts(values=facts)):
        for rr in results or ():
            if rr.result is Tri.TRUE:
                r = plan.row(rr.row.id)
                if r.treats:
                    out.append((r.actions, r.regimens))
    return out


def synth(n: int, seed: int = 0, pool: int | None = None, kb: KnowledgeBase | None = None,
          p_deviation: float = 0.12, p_not_recorded: float = 0.06,
          progress: Callable[[int], None] | None = None) -> pl.DataFrame:
    """`n` decision points over `pool` distinct patients (default: n up to 20,000 distinct)."""
    kb = kb or load_knowledge()
    plan = build_plan(kb)
    pool = pool or min(n, 20_000)
    rng = random.Random(seed + 1)
    facts = profiles(pool, seed, kb)
    treat = [_treatments(kb, plan, f) for f in facts]
    actions = sorted(kb.vocabulary.terms["actions"])
    regimens = sorted(kb.vocabulary.terms["regimens"])
    if progress:
        progress(pool)
    pick = [rng.randrange(pool) for _ in range(n)]
    done_a: list[str | None] = []
    done_g: list[str | None] = []
    for i in pick:
        x = rng.random()
        options = treat[i]
        if x < p_not_recorded:
            done_a.append(None)
            done_g.append(None)
        elif x < p_not_recorded + p_deviation or not options:
            done_a.append(rng.choice(actions))
            done_g.append(rng.choice(regimens) if rng.random() < 0.5 else None)
        else:
            acts, regs = rng.choice(options)
            done_a.append(rng.choice(acts) if acts else None)
            done_g.append(rng.choice(regs) if regs else None)
    cols: dict[str, Any] = {DECISION_ID: [f"D{k:07d}" for k in range(n)],
                            "patient_id": [f"P{i:06d}" for i in pick],
                            "centre": [CENTRES[i % len(CENTRES)] for i in pick],
                            "decision_date": [dt.date(rng.choice(YEARS), rng.randint(1, 12), rng.randint(1, 28))
                                              for _ in range(n)],
                            DONE_ACTION: done_a, DONE_REGIMEN: done_g}
    fact_frame = pl.DataFrame(facts, schema={f: polars_schema()[f] for f in FACTS}, orient="row")
    # closed lists are stored as Enum (Parquet dictionary + Polars metadata): smaller and no cast on reading
    fact_frame = fact_frame.with_columns([pl.col(f).cast(pl.Enum(list(s.values))) for f, s in FACTS.items()
                                          if s.kind == "enum"])
    idx = pl.Series("i", pick, dtype=pl.UInt32)
    frame = pl.DataFrame(cols, schema={c.name: polars_schema()[c.name] for c in COLUMNS if c.name in cols})
    frame = frame.with_columns(pl.col(DONE_ACTION).cast(pl.Enum(actions)), pl.col(DONE_REGIMEN).cast(pl.Enum(regimens)))
    return pl.concat([frame, fact_frame[idx]], how="horizontal")


def write(df: pl.DataFrame, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix.lower() == ".csv":
        df.write_csv(p)
    else:
        df.write_parquet(p)
    return p
