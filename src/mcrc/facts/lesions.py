"""Facts read from the lesions listed one by one: counts summed, findings on both sides, suitability for resection."""

from __future__ import annotations

from mcrc.facts.history import (
    kleene_and,
    kleene_or,
)
from mcrc.patient import Lesion, Patient


def _sum_or_none(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(values)


def _any_attr(lesions: list[Lesion], attr: str) -> bool | None:
    return kleene_or(getattr(lesion, attr) for lesion in lesions)


def _both_sides(sites: list[Lesion], attr: str) -> bool | None:
    """Lesions on both sides (lung: bilateral; liver: bilobar): as recorded, else from the listed lesions' sides
    (definitions.yaml bilobar)."""
    said = [getattr(m, attr) for m in sites]
    sides = {x.side for m in sites for x in m.lesions or ()}
    if True in said or {"left", "right"} <= sides:
        return True
    if said and all(x is False for x in said):
        return False
    every_listed = all(m.lesions for m in sites) and None not in sides
    return False if sites and every_listed and len(sides) == 1 else None


def lesion_suitability(sites: list[Lesion]) -> str | None:
    """all / some / none of the lesions listed one by one are suitable for resection (definitions.yaml
    lesion_suitability); 'some' as soon as one is and one is not, else unknown unless every lesion is judged."""
    judged = [x.suitable_for_resection for m in sites for x in m.lesions or ()]
    if True in judged and False in judged:
        return "some"
    if not sites or not judged or None in judged or not all(m.lesions for m in sites):
        return None
    return "all" if judged[0] else "none"


def _lesion_facts(p: Patient, v: dict, lung: list[Lesion], other: list[Lesion]) -> None:
    if p.metastases is None:
        return
    liver = [m for m in other if m.organ == "liver"]
    if lung:
        v["lung_lesions_resectable"] = lesion_suitability(lung)
        v["lung_complete_response"] = kleene_and(m.complete_response for m in lung)
    if liver:
        v["liver_lesions_resectable"] = lesion_suitability(liver)
        v["liver_bilobar"] = _both_sides(liver, "bilobar")
        v["liver_disappeared_count"] = _sum_or_none([m.disappeared_count for m in liver])
        v["liver_complete_response"] = kleene_and(m.complete_response for m in liver)
    if p.metastases:
        v["all_sites_complete_response"] = kleene_and(m.complete_response for m in p.metastases)
