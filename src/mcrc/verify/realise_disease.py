"""The disease of a counterexample as Patient input: the primary tumour, the metastatic sites and the biomarkers."""

from __future__ import annotations

from typing import Any

_EXTRA_ORGANS = ["bone", "adrenal", "distant_lymph_nodes", "ovary", "brain", "other"]


def _put(d: dict, key: str, value: Any) -> None:
    if value is not None:
        d[key] = value


def _primary(v: dict) -> dict | None:
    p: dict = {}
    loc = v.get("primary_location")
    if loc is None:
        if v.get("primary_site") == "rectum":
            loc = "rectum"
        elif v.get("sidedness") == "right":
            loc = "ascending_colon"
        elif v.get("primary_site") == "colon" or v.get("sidedness") == "left":
            loc = "sigmoid_colon"
    _put(p, "location", loc)
    dist = v.get("rectal_distance_cm")
    if dist is None and v.get("rectal_height"):
        dist = 6 if v["rectal_height"] == "middle_lower" else 12
    if loc == "rectum":
        _put(p, "distance_from_anal_verge_cm", dist)
    ct, cn = v.get("ct"), v.get("cn")
    if v.get("locally_advanced") is True and ct is None and cn is None:
        ct = "T3"
    if v.get("locally_advanced") is False:
        ct, cn = ct or "T2", cn or "N0"
    _put(p, "ct", ct)
    _put(p, "cn", cn)
    _put(p, "status", v.get("primary_status"))
    if v.get("primary_status") == "resected":
        p["resected_on"] = "2024-01-15"
    _put(p, "resectability", v.get("primary_resectability"))
    _put(p, "emergency", v.get("emergency"))
    return p or None


def _size(mm: Any) -> dict | None:
    return None if mm is None else {"value": max(float(mm), 1.0), "unit": "mm"}


def _metastases(v: dict, relevant: set[str]) -> list | None:
    if v.get("metastases_recorded") is None and v.get("metastatic") is None:
        return None
    if v.get("metastatic") is False:
        return []
    timing = v.get("lung_timing")
    found = "2025-06-01" if timing == "metachronous" else "2024-01-10"
    mets: list[dict] = []
    if v.get("lung_mets"):
        lung: dict = {"organ": "lung", "found": found}
        for key, fact in (("count", "lung_met_count"), ("bilateral", "lung_bilateral"), ("zone", "lung_zone"),
                          ("hilar_mediastinal_nodes", "lung_nodes"), ("lymphangitic", "lymphangitic"),
                          ("symptomatic", "lung_symptomatic"), ("resectability", "lung_resectability"),
                          ("timing", "lung_timing"), ("nature_indeterminate", "lung_indeterminate")):
            _put(lung, key, v.get(fact))
        _put(lung, "largest_size", _size(v.get("lung_largest_mm")))
        if v.get("lung_zone") and "count" not in lung:
            lung["count"] = 1
        mets.append(lung)
    sites = v.get("extrapulmonary_sites") or 0
    extra_res = v.get("extrapulmonary_resectability")
    if extra_res == "none":
        extra_res = None
    if v.get("liver_mets"):
        before = v.get("prior_liver_resection") and v.get("liver_recurrence_after_resection") is False
        liver: dict = {"organ": "liver", "found": "2023-01-10" if before else "2024-01-10"}
        _put(liver, "count", v.get("liver_met_count") or None)
        _put(liver, "largest_size", _size(v.get("liver_largest_mm")))
        res = v.get("liver_resectability")
        _put(liver, "resectability", None if res == "none" else res or extra_res)
        for key, fact in (("multifocal_stage", "liver_multifocal_stage"), ("major_resection_needed",
                          "liver_major_resection"), ("small_and_accessible", "liver_small_accessible")):
            _put(liver, key, v.get(fact))
        mets.append(liver)
    if v.get("peritoneal_mets"):
        peri: dict = {"organ": "peritoneum", "found": "2024-01-10"}
        _put(peri, "pci", v.get("pci"))
        _put(peri, "p_category", v.get("p_category"))
        res = v.get("peritoneal_resectability")
        _put(peri, "resectability", None if res == "none" else res or extra_res)
        mets.append(peri)
    if v.get("pelvic_implant"):
        mets.append({"organ": "pelvic_implant", "found": "2024-01-10", "resectability": extra_res})
    organs = [m for m in mets if m["organ"] != "lung"]
    extra = _EXTRA_ORGANS
    if v.get("liver_dominant") is True:  # the one other site SIRFLOX allowed: a small nodal area
        extra = ["distant_lymph_nodes", *(o for o in _EXTRA_ORGANS if o != "distant_lymph_nodes")]
    for organ in extra[: max(0, sites - len(organs))]:
        lesion = {"organ": organ, "found": "2024-01-10", "resectability": extra_res}
        if organ == "distant_lymph_nodes" and v.get("liver_dominant") is True:
            lesion.update(count=1, largest_size={"value": 12.0, "unit": "mm"})
        mets.append(lesion)
    organs = {m["organ"] for m in mets}
    if "liver" in organs and not organs - {"liver", "lung", "distant_lymph_nodes"}:
        if v.get("liver_dominant") is False:  # SIRFLOX's bar: a site beyond lung and one nodal area
            mets.append({"organ": "bone", "found": "2024-01-10", "resectability": extra_res})
        elif v.get("liver_dominant") is None and "liver_dominant" in relevant and "distant_lymph_nodes" not in organs:
            mets.append({"organ": "distant_lymph_nodes", "found": "2024-01-10"})  # size not recorded: unknown
    return [{k: x for k, x in m.items() if x is not None} for m in mets]


def _biomarkers(v: dict) -> dict | None:
    b: dict = {}
    kras, nras = v.get("kras"), v.get("nras")
    if v.get("ras") == "wild_type":
        kras, nras = kras or "wild_type", nras or "wild_type"
    if v.get("ras") == "mutant" and kras != "mutant" and nras != "mutant":
        kras = "mutant"
    if v.get("kras_g12c") is True:
        kras = "mutant"
    _put(b, "kras", kras)
    if kras == "mutant" and v.get("kras_g12c") is not None:
        b["kras_variant"] = "G12C" if v["kras_g12c"] else "G12D"
    _put(b, "nras", nras)
    _put(b, "braf", v.get("braf"))
    if v.get("mmr_status"):
        b["mmr"] = "deficient" if v["mmr_status"] == "dmmr_msi_h" else "proficient"
    _put(b, "her2", v.get("her2"))
    if v.get("her2_ihc_3plus") is not None:
        b["her2_ihc_score"] = "3+" if v["her2_ihc_3plus"] else "1+"
        if v["her2_ihc_3plus"] and b.get("her2") is None:
            b["her2"] = "positive"
    _put(b, "ntrk_fusion", v.get("ntrk_fusion"))
    _put(b, "ret_fusion", v.get("ret_fusion"))
    if v.get("ctdna_tissue_ras_discordant") is True and v.get("ctdna_clear") is None:
        b["ctdna"] = {"ras": "mutant"}
    elif v.get("ctdna_clear") is not None:
        state = "wild_type" if v["ctdna_clear"] else "mutant"
        ras = "wild_type" if state == "mutant" and v.get("ctdna_tissue_ras_discordant") is False and \
            v.get("ras") == "wild_type" else state
        b["ctdna"] = {"ras": ras, "braf": "wild_type", "egfr_ectodomain": state if ras != state else "wild_type"}
    _put(b, "specimen", v.get("molecular_specimen"))
    return b or None
