"""Liver-dominant disease from the recorded metastatic sites (D1)."""

from __future__ import annotations

from collections.abc import Sequence

from mcrc.facts.history.conventions import kleene_and
from mcrc.patient import Lesion


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
