"""Patient builders shared by the vignette files: a fully specified base case plus deep-merge overrides."""

from __future__ import annotations

import copy
from typing import Any

DROP = object()  # override value that removes a field (makes it unknown)


# ------------------------------------------------------------------------------------------------
# Patient builders
# ------------------------------------------------------------------------------------------------

def merge(into: dict, override: dict) -> dict:
    """Deep-merge `override` into a copy of `into`; lists are replaced, DROP removes a key."""
    out = copy.deepcopy(into)
    for key, value in override.items():
        if value is DROP:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def lung(**kw: Any) -> dict:
    """A group of lung metastases: by default two resectable 14 mm lesions in one lung's outer zone."""
    lesion = {"organ": "lung", "count": 2, "largest_size": {"value": 14, "unit": "mm"}, "bilateral": False,
              "zone": "outer", "hilar_mediastinal_nodes": False, "lymphangitic": False, "symptomatic": False,
              "nature_indeterminate": False, "found": "2026-09-10", "resectability": "resectable"}
    return merge(lesion, kw)


def site(organ: str, resectability: str, **kw: Any) -> dict:
    """An extrapulmonary metastatic site found at the same staging as the lung lesions."""
    lesion = {"organ": organ, "count": 1, "largest_size": {"value": 25, "unit": "mm"}, "symptomatic": False,
              "nature_indeterminate": False, "found": "2026-09-10", "resectability": resectability}
    return merge(lesion, kw)


def course(setting: str, regimen: str, started: str, ended: str | None, outcome: str, **kw: Any) -> dict:
    return {"setting": setting, "regimen": regimen, "started": started, "ended": ended, "outcome": outcome, **kw}


def base() -> dict:
    """Synchronous sigmoid cancer cT3N1, primary in place and resectable, two resectable lung metastases."""
    return {
        "age": 62, "sex": "male", "ecog": 0, "cea_ng_ml": 3.2,
        "primary": {"location": "sigmoid_colon", "ct": "T3", "cn": "N1", "diagnosed": "2026-09-01",
                    "status": "in_place", "resectability": "resectable", "emergency": "none"},
        "metastases": [lung()],
        "biomarkers": {"kras": "wild_type", "nras": "wild_type", "braf": "wild_type", "mmr": "proficient",
                       "msi": "stable", "her2": "negative", "specimen": "metastasis"},
        "treatment_history": {"courses": [], "procedures": []},
        "fitness": {"fit_for_surgery": True},
        "preferences": {"declines_surgery": False, "wishes_organ_preservation": False},
        "symptoms": {"bone_pain": False},
        "ned": False,
    }


def patient(*layers: dict, **overrides: Any) -> dict:
    out = base()
    for layer in (*layers, overrides):
        out = merge(out, layer)
    return out


# Sigmoid cancer resected in March 2024, six months of adjuvant CAPOX, then a single resectable
# lung metastasis 25 months later (an initial metachronous lung metastasis, DFI >= 24 months).
META = {
    "primary": {"diagnosed": "2024-02-20", "status": "resected", "resected_on": "2024-03-12"},
    "metastases": [lung(count=1, largest_size={"value": 16, "unit": "mm"}, found="2026-04-14")],
    "treatment_history": {
        "courses": [course("adjuvant", "CAPOX", "2024-04-15", "2024-09-30", "completed")],
        "procedures": [{"kind": "primary_resection", "date": "2024-03-12", "margin": "R0"}],
    },
}


def rectum(cm: float, ct: str = "T3", cn: str = "N1") -> dict:
    return {"primary": {"location": "rectum", "distance_from_anal_verge_cm": cm, "ct": ct, "cn": cn}}


