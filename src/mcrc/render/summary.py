"""The board summary: what a tumour board reads first, the same in every renderer (issue 20, decision record 0037).

One line for the patient (as recorded and as derived, from the facts of the answer shown), the goal, the
recommended strategy with its regimens and its course in words, the alternatives, the current standard where it
differs, the assumptions of a provisional answer, what to settle at this board, and the safety warnings apart from
the cautions and notes. Every item keeps its citation; nothing here is new: it repeats, shorter, what the sections
below it say in full.
"""

from __future__ import annotations

from typing import Any

from mcrc.engine.assessment import Assessment, Caveat, CitationOut, StrategyOut
from mcrc.knowledge import load_knowledge
from mcrc.knowledge.model import KnowledgeBase
from mcrc.render.structure import regimen_groups, severity_of

SUMMARY_TITLE = "Board summary"
SCOPE_TEXT = {
    "in_scope": "in scope",
    "refer_mdt": "refer to the MDT (no definite route yet)",
    "out_of_scope": "out of scope",
}
MAX_REGIMENS = 6  # regimen options named inline; the rest are counted (all are listed under "Regimen options")

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


def branch_lines(b) -> list[str]:
    """One line per outcome: 'yes -> Cure intent: ... (only here: FOLFOXIRI)'. When every value leads to the same
    goal (or to none), what all outcomes share is said once and each value's line says only what it adds (a board
    reads the difference, not the same sentence three times): a shared goal opens with 'for every value: <goal>:
    <what they share>'; without a goal the shared part is the answer shown, and is not repeated."""
    outs = b.outcomes
    goals = {o.goal for o in outs}
    if len(outs) < 2 or len(goals) != 1:
        lines = []
        for o in outs:
            only = [x for x in o.only_here if x not in o.summary]
            extra = f" (only here: {', '.join(only)})" if only else ""
            lines.append(f"{' / '.join(o.value_labels)} -> {o.summary}{extra}")
        return lines
    goal = outs[0].goal
    parts = [(o.summary[len(goal) + 2:] if goal and o.summary.startswith(f"{goal}: ") else o.summary).split("; ")
             for o in outs]
    common = [x for x in parts[0] if all(x in p for p in parts[1:])]
    shared = "; ".join(common)
    # the goal they share is worth saying (it may settle an undecided goal); without one, the shared part is the
    # answer shown above, and each line says what the value adds to it
    lines = [f"for every value: {goal}" + (f": {shared}" if shared else "")] if goal else []
    for o, p in zip(outs, parts, strict=True):
        text = "; ".join(x for x in p if x not in common)
        only = [x for x in o.only_here if x not in text]
        if only:
            text = f"{text} (only here: {', '.join(only)})" if text else f"also {', '.join(only)}"
        lines.append(f"{' / '.join(o.value_labels)} -> {text or 'no additions'}")
    return lines

def cite_text(cites: list[CitationOut]) -> str:
    """'source where fn footnote' joined by '; ' (the outline's short citation form)."""
    parts = []
    for c in cites:
        fn = "" if not c.footnote else f" {c.footnote}" if c.footnote.startswith("note") else f" fn {c.footnote}"
        parts.append(f"{c.source} {c.where}{fn}")
    return "; ".join(parts)


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


def safety_codes(kb: KnowledgeBase) -> set[str]:
    """The warning codes whose severity in the vocabulary is safety (decision record 0038; the loader makes every
    warning a safety invariant names one of them)."""
    return {code for code in kb.vocabulary.terms.get("warnings", {}) if severity_of(kb, code) == "safety"}


def _duration(p) -> str:
    if p.duration == "fixed" and p.start_month is not None and p.end_month is not None:
        return f"{p.end_month - p.start_month:g} months"
    if p.duration == "up_to" and p.start_month is not None and p.end_month is not None:
        return f"up to {p.end_month - p.start_month:g} months"
    return ""


def timeline_words(s: StrategyOut) -> str:
    """The strategy's course in words: 'Systemic therapy, then restage every 2 months'; durations where the
    sources give them, nothing invented where they do not."""
    parts = []
    phases = s.timeline or []
    for p in phases:
        extra = [x for x in (_duration(p), p.every_months and f"every {p.every_months:g} months") if x]
        parts.append(p.label + (f" ({', '.join(extra)})" if extra else ""))
    if not parts:
        for st in s.steps:
            extra = [x for x in (st.months and f"{st.months:g} months", st.max_months and
                                 f"up to {st.max_months:g} months") if x]
            parts.append(st.label + (f" ({', '.join(extra)})" if extra else ""))
    return ", then ".join(parts)


def strategy_regimens(a: Assessment, s: StrategyOut, kb: KnowledgeBase | None = None
                      ) -> tuple[list[str], int, list[CitationOut]]:
    """The regimen entries of a strategy: its steps' own regimens, or, for a strategy with a systemic step and none
    named, the options no strategy names; equivalent variants folded into one entry (decision record 0038), an
    entry with a caveat marked; the count of entries left out; their citations."""
    n = next(i for i, x in enumerate(a.strategies, start=1) if x is s) if any(x is s for x in a.strategies) else 0
    own, shared = regimen_groups(a, (kb or load_knowledge()).vocabulary)
    group = own.get(n) or (shared if shared is not None and n in shared.serves else None)
    folds = group.folds if group is not None else []
    labels, cites = [], []
    for f in folds[:MAX_REGIMENS]:
        labels.append(f.title + (" (caveat)" if f.caveats() else ""))
        for r in f.members:
            cites += [x for x in r.citations if x not in cites]
    return labels, max(0, len(folds) - MAX_REGIMENS), cites


def strategy_head(n: int, s: StrategyOut) -> str:
    """A strategy in one line: its label (every strategy has one, the loader requires it), else its steps."""
    return s.label or " -> ".join(st.label for st in s.steps)


def _caveats(a: Assessment) -> dict[str, tuple[Caveat, list[str]]]:
    """Every caveat of the answer shown, once per code, with the options that carry it."""
    out: dict[str, tuple[Caveat, list[str]]] = {}
    carriers = [(r.label, r.caveats) for r in a.regimens]
    carriers += [(st.label, st.caveats) for s in a.strategies for st in s.steps]
    carriers += [(cs.option, cs.caveats) for cs in a.current_standard]
    for label, cavs in carriers:
        for c in cavs:
            entry = out.setdefault(c.code, (c, []))
            if label not in entry[1]:
                entry[1].append(label)
    return out


def safety_items(a: Assessment, kb: KnowledgeBase) -> tuple[list[tuple[str, str, list[CitationOut]]], int]:
    """(code, text, citations) of every safety warning of the answer shown (a warning or a caveat whose severity is
    safety), and how many other warnings there are (cautions and notes, under Warnings; a caveat that is a caution
    stays with the options that carry it)."""
    items, others = _safety_and_others(a, kb)
    return items, sum(others.values())


def _safety_and_others(a: Assessment, kb: KnowledgeBase):
    codes = safety_codes(kb)
    items: list[tuple[str, str, list[CitationOut]]] = []
    seen: set[str] = set()
    others = {"caution": 0, "note": 0, "caveat": 0}
    for w in a.warnings:
        if w.code in codes:
            items.append((w.code, w.label + (f" ({w.note})" if w.note else ""), w.citations))
            seen.add(w.code)
        else:
            others["note" if severity_of(kb, w.code) == "note" else "caution"] += 1
            seen.add(w.code)
    for code, (c, labels) in _caveats(a).items():
        if code in seen:
            continue
        if code not in codes:
            others["caveat"] += 1
            continue
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        items.append((code, f"{c.label} (on {shown})", c.citations))
    return items, others


def _others_text(others: dict[str, int]) -> str:
    """'2 cautions and 1 note among the warnings; 1 caveat (a caution) with the options that carry it'."""
    parts = [_plural(others[k], k) for k in ("caution", "note") if others[k]]
    out = f"{' and '.join(parts)} among the warnings" if parts else ""
    if others["caveat"]:
        n = others["caveat"]
        out += ("; " if out else "") + f"{_plural(n, 'caveat')} (caution{'s' if n > 1 else ''}) with the options " \
            f"that carry {'them' if n > 1 else 'it'}"
    return out


def _safety_section(a: Assessment, code: str, kb: KnowledgeBase) -> str:
    """Where the full answer states a safety item: the warnings, else the first kind of option carrying the caveat."""
    if any(w.code == code for w in a.warnings):
        return "warnings"
    if any(c.code == code for r in a.regimens for c in r.caveats):
        _, shared = regimen_groups(a, kb.vocabulary)
        if shared is not None and any(c.code == code for f in shared.folds for r in f.members for c in r.caveats):
            return "regimens"
        return "strategies"  # carried by a regimen a strategy names: shown under that strategy
    if any(c.code == code for s in a.strategies for st in s.steps for c in st.caveats):
        return "strategies"
    return "current-standard"


def summary_items(a: Assessment, kb: KnowledgeBase, provisional=None) -> list[dict[str, Any]]:
    """The summary as a list of items, renderer-neutral: kind, text, citations, detail lines, and `section`: the
    anchor of the section below that says it in full (the web page's ids; "" for the patient line). The
    recommended item also carries its parts (`regimens`, `more`, `regimen_cites`, `course`) for renderers that
    lay them out themselves (the web card); its detail lines say the same in words. `a` is the answer shown;
    `provisional` the assumptions it rests on (None for a strict answer)."""
    items: list[dict[str, Any]] = [{"kind": "patient", "text": patient_line(a.facts), "cites": [], "detail": [],
                                    "section": ""}]
    if a.scope.status != "in_scope":
        reason = f": {a.scope.reason}" if a.scope.reason else ""
        items.append({"kind": "scope", "text": f"{SCOPE_TEXT[a.scope.status]}{reason}",
                      "cites": [], "detail": [], "section": "scope"})
    if a.goal:
        items.append({"kind": "goal", "text": a.goal.label, "cites": a.goal.citations, "detail": [],
                      "section": "goal"})
    if a.strategies:
        first = a.strategies[0]
        regs, more, reg_cites = strategy_regimens(a, first, kb)
        detail = []
        if regs:
            detail.append("regimens: " + ", ".join(regs) + (f" (+{more} more under Regimen options)" if more else "")
                          + (f" [{cite_text(reg_cites)}]" if reg_cites else ""))
        course = timeline_words(first)
        if course:
            detail.append(f"course: {course}")
        items.append({"kind": "recommended", "text": first.label or strategy_head(1, first),
                      "cites": first.citations, "detail": detail, "section": "strategies", "strategy": first.id,
                      "regimens": regs, "more": more, "regimen_cites": reg_cites, "course": course})
        for s in a.strategies[1:]:
            items.append({"kind": "alternative", "text": strategy_head(0, s), "cites": s.citations, "detail": [],
                          "section": "strategies", "strategy": s.id})
    elif a.referrals:
        for r in a.referrals:
            items.append({"kind": "referral", "text": r.label, "cites": r.citations, "detail": [],
                          "section": "referrals"})
    for cs in a.current_standard:
        items.append({"kind": "current_standard", "text": f"{cs.option} ({cs.trial}, {cs.approval.agency} "
                      f"{cs.approval.kind} approval{', ' + cs.approval.date if cs.approval.date else ''}); "
                      "the guideline answer differs", "cites": cs.citations, "detail": [],
                      "section": "current-standard"})
    for x in (provisional.assumptions if provisional is not None else []):
        items.append({"kind": "assumed", "text": x.assumed, "cites": x.citations, "detail": [],
                      "section": "provisional", "presumption": x.presumption})
    for b in a.branches:
        items.append({"kind": "settle", "text": b.question, "cites": [], "detail": branch_lines(b),
                      "section": "branches", "fact": b.fact})
    safety, others = _safety_and_others(a, kb)
    for code, text, cites in safety:
        items.append({"kind": "safety", "code": code, "text": text, "cites": cites, "detail": [],
                      "section": _safety_section(a, code, kb)})
    if any(others.values()):
        items.append({"kind": "other_warnings", "text": _others_text(others), "cites": [], "detail": [],
                      "section": "warnings" if others["caution"] or others["note"] else
                      "regimens" if regimen_groups(a, kb.vocabulary)[1] is not None else "strategies"})
    return items


KIND_LABEL = {
    "patient": "Patient", "scope": "Scope", "goal": "Goal", "recommended": "Recommended", "referral": "Referral",
    "alternative": "Alternative", "current_standard": "Current standard", "assumed": "ASSUMED",
    "settle": "To settle", "safety": "SAFETY", "other_warnings": "Also",
}


def safety_beside(items: list[dict[str, Any]]) -> bool:
    """On a wide screen the summary has two columns: the answer on the left, what to check and settle on the
    right. The safety warnings go under whichever of the two is shorter (in lines, roughly),
    so that the whole summary fits one screen; True: under the right one. A page of one column keeps the order of
    `summary_items`."""
    def lines(text: str) -> int:  # about 70 characters to a line of half a wide screen
        return 1 + len(text) // 70

    def weight(kinds: tuple[str, ...]) -> int:
        return sum(lines(x["text"]) + bool(x["cites"]) + sum(lines(d) for d in x["detail"])
                   for x in items if x["kind"] in kinds)
    side = weight(("assumed", "settle"))
    return 0 < side <= weight(("scope", "goal", "recommended", "alternative", "referral", "current_standard"))

