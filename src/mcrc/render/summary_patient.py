"""The board summary's patient line: the patient as recorded and as derived, in one line, never a guess."""

from __future__ import annotations

from typing import Any

_LOCATION = {
    "caecum": "caecum", "ascending_colon": "ascending colon", "hepatic_flexure": "hepatic flexure",
    "transverse_colon": "transverse colon", "splenic_flexure": "splenic flexure",
    "descending_colon": "descending colon", "sigmoid_colon": "sigmoid colon", "rectosigmoid": "rectosigmoid",
    "rectum": "rectum", "right_colon": "right colon", "left_colon": "left colon",
}
_STATUS = {"in_place": "in place", "resected": "resected", "local_recurrence": "local recurrence"}
_BIO = {"wild_type": "wild-type", "mutant": "mutant", "v600e": "V600E", "non_v600e": "non-V600E mutant",
        "dmmr_msi_h": "dMMR/MSI-H", "pmmr_mss": "pMMR/MSS", "positive": "positive", "negative": "negative"}
_EMERGENCY = {"bleeding": "bleeding", "obstruction": "obstructed", "impending_obstruction": "impending obstruction",
              "perforation": "perforated"}
# the systemic classes whose failure gates later lines (facts `<class>_failed`), in the oncologists' order
_FAILED = (("fluoropyrimidine", "fluoropyrimidine"), ("oxaliplatin", "oxaliplatin"), ("irinotecan", "irinotecan"))
_REFRACTORY = (("anti_egfr", "anti-EGFR"), ("anti_vegf", "anti-VEGF"), ("checkpoint_inhibitor", "checkpoint inhibitor"),
               ("braf_inhibitor", "BRAF inhibitor"), ("her2_directed", "HER2-directed therapy"),
               ("kras_g12c_inhibitor", "KRAS G12C inhibitor"), ("multikinase_inhibitor", "regorafenib"),
               ("thymidine_analogue", "trifluridine-tipiracil"), ("vegfr_inhibitor", "fruquintinib"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _sites(f: dict[str, Any]) -> str:
    """'liver 14, lung 2 (both lungs), peritoneum (PCI 8), 1 other organ'; counts only where recorded."""
    if f.get("metastatic") is False:
        return "no distant metastases recorded"
    if not f.get("metastases_recorded") and f.get("metastatic") is None:
        return "metastases not recorded"
    parts, named = [], 0
    for organ, flag, count in (("liver", "liver_mets", "liver_met_count"), ("lung", "lung_mets", "lung_met_count")):
        if f.get(flag):
            named += 1
            n = f.get(count)
            extra = []
            if organ == "lung" and f.get("lung_bilateral") is not None:
                extra.append("both lungs" if f["lung_bilateral"] else "one lung")
            if organ == "liver" and f.get("liver_bilobar"):
                extra.append("both lobes")
            largest = f.get(f"{organ}_largest_mm")
            if largest is not None:
                extra.append(f"largest {largest:g} mm")
            parts.append(f"{organ}{'' if n is None else f' {n}'}" + (f" ({', '.join(extra)})" if extra else ""))
    if f.get("peritoneal_mets"):
        named += 1
        extra = [x for x in (f.get("pci") is not None and f"PCI {f['pci']}", f.get("p_category")) if x]
        parts.append("peritoneum" + (f" ({', '.join(extra)})" if extra else ""))
    if f.get("pelvic_implant"):
        named += 1
        parts.append("pelvic implants")
    organs = f.get("metastatic_organ_count")
    if organs is not None and organs > named:
        parts.append(_plural(organs - named, "other organ"))
    timing = sorted({f[k] for k in ("liver_timing", "lung_timing") if f.get(k)})
    text = ", ".join(parts) or "metastatic, sites not recorded"
    return text + (f"; {'/'.join(timing)}" if timing else "")


def _primary(f: dict[str, Any]) -> str:
    loc = _LOCATION.get(f.get("primary_location"), "location not recorded")
    if f.get("rectal_third"):
        loc += f", {f['rectal_third']} third"
    elif f.get("rectal_distance_cm") is not None:
        loc += f", {f['rectal_distance_cm']:g} cm from the anal verge"
    side = f" ({f['sidedness']}-sided)" if f.get("sidedness") else ""
    stage = []
    if f.get("ct") or f.get("cn"):
        stage.append(f"c{f.get('ct') or 'T?'} c{f.get('cn') or 'N?'}")
    if f.get("pt") or f.get("pn"):
        yp = "yp" if f.get("pathological_after_neoadjuvant") else "p"
        stage.append(f"{yp}{f.get('pt') or 'T?'} {yp}{f.get('pn') or 'N?'}")
    status = _STATUS.get(f.get("primary_status"))
    bits = [b for b in (status, " ".join(stage) or "stage not recorded",
                        _EMERGENCY.get(f.get("emergency"))) if b]
    return f"{loc}{side}, {', '.join(bits)}"


def _biology(f: dict[str, Any]) -> str:
    def val(key: str) -> str:
        return _BIO.get(f.get(key), "not recorded") if f.get(key) is not None else "not recorded"
    ras = val("ras")
    if f.get("kras_g12c"):
        ras += " (KRAS G12C)"
    parts = [f"RAS {ras}", f"BRAF {val('braf')}", f"MMR {val('mmr_status')}"]
    if f.get("her2") is not None:
        parts.append(f"HER2 {val('her2')}")
    for key, word in (("ntrk_fusion", "NTRK fusion"), ("ret_fusion", "RET fusion")):
        if f.get(key):
            parts.append(word)
    return ", ".join(parts)


def _history(f: dict[str, Any]) -> str:
    """Prior lines and the derived history facts that gate the next choice; unknown history says so."""
    if f.get("systemic_history_known") is False or (f.get("lines_received") is None
                                                   and f.get("systemic_history_known") is None):
        return "not recorded"
    n = f.get("lines_received")
    parts = ["no line for metastatic disease" if n == 0 else
             f"{_plural(n, 'line')} for metastatic disease" if n is not None else "lines not recorded"]
    failed = [w for k, w in _FAILED if f.get(f"{k}_failed")]
    if failed:
        parts.append(f"{', '.join(failed)} failed")
    refractory = [w for k, w in _REFRACTORY if f.get(f"{k}_refractory")]
    if refractory:
        parts.append(f"refractory to {', '.join(refractory)}")
    if f.get("adjuvant_oxaliplatin_failure_12m"):
        parts.append("relapse within 12 months of adjuvant oxaliplatin")
    if f.get("neoadjuvant_progression"):
        parts.append("progression on preoperative therapy")
    if f.get("progressing"):
        parts.append("progressing now")
    elif f.get("controlled_on_chemotherapy"):
        parts.append("controlled on current therapy")
    return "; ".join(parts)


def patient_line(f: dict[str, Any]) -> str:
    """The patient in one line, from the facts of the answer shown: recorded values, then derived facts; an
    unknown value says "not recorded" (or is left out where absence says nothing), never a guess."""
    who = []
    who.append(f"{f['age']} y" if f.get("age") is not None else "age not recorded")
    who.append(f["sex"] if f.get("sex") else "sex not recorded")
    who.append(f"ECOG {f['ecog']}" if f.get("ecog") is not None else "ECOG not recorded")
    if f.get("fit_for_intensive_therapy") is False:
        who.append("unfit for intensive therapy")
    context = []
    if f.get("lymphangitic"):
        context.append("lymphangitic carcinomatosis")
    if f.get("ned"):
        context.append("no evidence of disease")
    if f.get("hereditary_syndrome") == "lynch":
        context.append("Lynch syndrome")
    if f.get("second_primary_cancer") in ("active", "recent"):
        context.append(f"{f['second_primary_cancer']} second primary cancer")
    return (f"{', '.join(who)}. Primary: {_primary(f)}. Metastases: {_sites(f)}"
            + (f"; {', '.join(context)}" if context else "") + f". Biology: {_biology(f)}. Prior therapy: "
            f"{_history(f)}.")
