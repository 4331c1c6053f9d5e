"""Patient -> Facts. Each derived fact implements a named definition from definitions.yaml.

Unknown stays unknown: a derivation returns None whenever its inputs do not settle the answer.
"""

from __future__ import annotations

import datetime as dt

from mcrc.catalog import FACTS
from mcrc.facts.history import (
    CLASSES,
    INTOLERANCE_CLASSES,
    PREOPERATIVE,
    History,
    Params,
    kleene_and,
    kleene_or,
    liver_dominant,
)
from mcrc.facts.lesions import _any_attr, _both_sides, _lesion_facts, _sum_or_none
from mcrc.facts.model import Facts
from mcrc.facts.timing import _dfi, _lung_initial, _other_metastasis_treated, _timing
from mcrc.knowledge.definitions import Definitions, load_definitions
from mcrc.patient import Lesion, Patient
from mcrc.vocabulary import load_vocabulary

_RANK = {"resectable": 0, "potentially_resectable": 1, "unresectable": 2}
def worst_resectability(values: list[str | None]) -> str | None:
    """The least resectable judgement; unknown unless an unresectable one already decides it."""
    known = [v for v in values if v is not None]
    if "unresectable" in known:
        return "unresectable"
    if not values or len(known) < len(values):
        return None
    return max(known, key=_RANK.__getitem__)


def derive_facts(patient: Patient, definitions: Definitions | None = None, today: dt.date | None = None) -> Facts:
    """Flatten a Patient into Facts, observed and derived (`today`: the date durations of ongoing courses run
    to; default the real one)."""
    d = definitions or load_definitions()
    v: dict[str, object] = dict.fromkeys(FACTS)
    notes: list[str] = []
    p = patient

    v["age"], v["ecog"], v["cea_ng_ml"] = p.age, p.ecog, p.cea_ng_ml
    v["sex"] = p.sex

    # --- primary -----------------------------------------------------------------------------
    pr = p.primary
    if pr is not None:
        v["primary_location"] = pr.location
        if pr.location is not None:
            side = d.params("sidedness")
            v["primary_site"] = "rectum" if pr.location == "rectum" else "colon"
            v["sidedness"] = ("right" if pr.location in side["right"] else
                              "left" if pr.location in side["left"] else None)
        if pr.location == "rectum" and pr.distance_from_anal_verge_cm is not None:
            v["rectal_distance_cm"] = pr.distance_from_anal_verge_cm
            limit = d.params("rectal_height")["middle_lower_max_cm"]
            v["rectal_height"] = "middle_lower" if pr.distance_from_anal_verge_cm <= limit else "upper"
        _primary_0035(pr, v, d)
        v["ct"] = pr.ct[:2] if pr.ct else None
        v["cn"] = pr.cn[:2] if pr.cn else None
        t_adv = None if v["ct"] is None else v["ct"] in d.params("locally_advanced")["t_categories"]
        n_pos = None if v["cn"] is None else v["cn"] != "N0"
        v["locally_advanced"] = kleene_or([t_adv, n_pos])
        v["primary_status"] = pr.status
        v["primary_resectability"] = pr.resectability
        v["emergency"] = pr.emergency

    # --- metastases --------------------------------------------------------------------------
    mets = p.metastases
    lung: list[Lesion] = []
    other: list[Lesion] = []
    if mets is not None:
        v["metastases_recorded"] = True
        lung = [m for m in mets if m.organ == "lung"]
        other = [m for m in mets if m.organ != "lung"]
        v["lung_mets"] = bool(lung)
        organs = {m.organ for m in other}
        v["extrapulmonary_sites"] = len(organs)
        v["liver_mets"] = "liver" in organs
        v["pelvic_implant"] = "pelvic_implant" in organs
        liver = [m for m in other if m.organ == "liver"]
        v["liver_met_count"] = _sum_or_none([m.lesion_count() for m in liver]) if liver else 0
        v["extrapulmonary_resectability"] = worst_resectability([m.resectability for m in other]) if other else "none"
        v["isolated_lung"] = bool(lung) and not other
        v["oligometastatic"] = len(organs) <= d.params("oligometastatic")["max_extrapulmonary_sites"]
        v["lung_indeterminate"] = _any_attr(mets, "nature_indeterminate") if mets else None
        v["metastatic"] = bool(mets)
        all_organs = {m.organ for m in mets}
        v["metastatic_organ_count"] = len(all_organs)
        v["metastatic_lesion_count"] = _sum_or_none([m.lesion_count() for m in mets])
        judged = [m.resectability for m in mets]
        v["metastases_unresectable"] = (True if "unresectable" in judged else
                                        None if None in judged else False) if mets else False
        v["liver_resectability"] = worst_resectability([m.resectability for m in liver]) if liver else "none"
        v["liver_only"] = all_organs == {"liver"}
        v["liver_dominant"] = liver_dominant(mets, d.params("liver_dominant"))
        v["extrahepatic_disease"] = bool(all_organs - {"liver"})
        peri = [m for m in mets if m.organ == "peritoneum"]
        v["peritoneal_mets"] = bool(peri)
        v["peritoneum_only"] = all_organs == {"peritoneum"}
        v["peritoneal_resectability"] = worst_resectability([m.resectability for m in peri]) if peri else "none"
        if peri:
            v["pci"] = _sum_or_none([m.pci for m in peri]) if len(peri) == 1 else None
            cats = [m.p_category for m in peri]
            v["p_category"] = max(cats) if all(cats) else None
        if liver:
            sizes = [mm for mm in (m.largest_mm() for m in liver) if mm is not None]
            v["liver_largest_mm"] = max(sizes) if len(sizes) == len(liver) else None
            v["liver_major_resection"] = _any_attr(liver, "major_resection_needed")
            small = [m.small_and_accessible for m in liver]
            v["liver_small_accessible"] = None if None in small else all(small)
            stages = {m.multifocal_stage for m in liver if m.multifocal_stage}
            v["liver_multifocal_stage"] = "late" if "late" in stages else ("early" if stages else None)
    if lung:
        lymph = _any_attr(lung, "lymphangitic")
        v["lymphangitic"] = lymph
        v["lung_met_count"] = _sum_or_none([m.lesion_count() for m in lung])
        sizes = [mm for mm in (m.largest_mm() for m in lung) if mm is not None]
        v["lung_largest_mm"] = max(sizes) if len(sizes) == len(lung) else None
        v["lung_bilateral"] = _both_sides(lung, "bilateral")
        if v["lung_met_count"] == 1:
            v["lung_zone"] = lung[0].zone or (lung[0].lesions[0].zone if lung[0].lesions else None)
        v["lung_nodes"] = _any_attr(lung, "hilar_mediastinal_nodes")
        v["lung_symptomatic"] = _any_attr(lung, "symptomatic")
        v["lung_resectability"] = worst_resectability([m.resectability for m in lung])

    _lesion_facts(p, v, lung, other)
    v["bone_pain"] = p.symptoms.bone_pain if p.symptoms else None

    # --- biology -----------------------------------------------------------------------------
    b = p.biomarkers
    if b is not None:
        v["kras"], v["nras"], v["braf"], v["her2"] = b.kras, b.nras, b.braf, b.her2
        v["molecular_specimen"] = b.specimen
        if "mutant" in (b.kras, b.nras):
            v["ras"] = "mutant"
        elif b.kras == "wild_type" and b.nras == "wild_type":
            v["ras"] = "wild_type"
        v["kras_g12c"] = (False if b.kras == "wild_type" else
                          None if b.kras_variant is None else b.kras_variant == "G12C")
        v["her2_ihc_3plus"] = None if b.her2_ihc_score is None else b.her2_ihc_score == "3+"
        if v["her2_ihc_3plus"] is None and b.her2 == "negative":
            v["her2_ihc_3plus"] = False
        v["ntrk_fusion"], v["ret_fusion"] = b.ntrk_fusion, b.ret_fusion
        v["her2_method"] = b.her2_method
        if b.ctdna is not None:
            calls = [b.ctdna.ras, b.ctdna.braf, b.ctdna.egfr_ectodomain]
            v["ctdna_known"] = None not in calls
            v["ctdna_clear"] = False if "mutant" in calls else (True if None not in calls else None)
        v["mmr_status"], note = _mmr(b.mmr, b.msi)
        if note:
            notes.append(note)

    # --- treatment history -------------------------------------------------------------------
    _course_facts(p, v, lung, other, d, today)
    v["ned"] = _ned(p)
    # --- fitness and wishes ------------------------------------------------------------------
    v["fit_for_surgery"] = p.fitness.fit_for_surgery if p.fitness else None
    v["fit_for_intensive_therapy"] = p.fitness.fit_for_intensive_therapy if p.fitness else None
    v["organ_function_adequate"] = p.fitness.adequate_organ_function if p.fitness else None
    v["tumour_burden"], v["region"] = p.tumour_burden, p.region
    if p.preferences:
        v["declines_surgery"] = p.preferences.declines_surgery
        v["wishes_organ_preservation"] = p.preferences.wishes_organ_preservation
    # --- patient context (decision record 0035) ---------------------------------------------------
    v["hereditary_syndrome"] = p.hereditary_syndrome  # never read into mmr_status: only a tumour test sets that
    v["second_primary_cancer"] = p.second_primary_cancer
    return Facts(values=v, ned_date=p.ned_date, notes=tuple(notes))


def _course_facts(p: Patient, v: dict, lung: list[Lesion], other: list[Lesion], d: Definitions,
                  today: dt.date | None) -> None:
    """Every fact that reads the treatment history (the courses, radiotherapy, procedures): the timing of the
    metastases, the lung as first site, the disease-free interval, ctDNA discordance and the history facts. Kept
    together so that the untreated presumption can derive them again alone (`rederive_untreated`)."""
    liver = [m for m in other if m.organ == "liver"]
    if liver:
        v["liver_timing"] = _timing(p, liver)
    if lung:
        v["lung_timing"] = _timing(p, lung)
        v["lung_initial"] = _lung_initial(v["lung_timing"], lung, other, _other_metastasis_treated(p))
        v["dfi_months"] = _dfi(p, lung, v["lung_timing"])
    if p.biomarkers is not None:
        v["ctdna_tissue_ras_discordant"] = _ctdna_discordant(p, v["ras"])
    _history(p, v, lung + other, d, today or dt.date.today())


def rederive_untreated(facts: Facts, before: Patient, patient: Patient, definitions: Definitions | None = None,
                       today: dt.date | None = None) -> Facts:
    """`derive_facts(patient)`, where `patient` is `before` (whose facts are `facts`) with an empty course list in
    place of none recorded (the untreated presumption, mcrc.engine.provisional.untreated): only the facts that read
    the history are derived again. Every fact the history part sets for no recorded courses it sets for an empty
    list too (the same lesions, biomarkers, radiotherapy and procedures), so nothing stale is kept; tests compare
    it with the whole derivation. Any other pair of patients is derived whole."""
    was, hist = before.treatment_history, patient.treatment_history
    if (was is not None and was.courses is not None) or hist is None or hist.courses != []:
        return derive_facts(patient, definitions, today)
    d = definitions or load_definitions()
    v = dict(facts.values)
    mets = patient.metastases or ()
    _course_facts(patient, v, [m for m in mets if m.organ == "lung"], [m for m in mets if m.organ != "lung"], d,
                  today)
    return Facts(values=v, ned_date=patient.ned_date, notes=facts.notes)


def _primary_0035(pr, v: dict, d: Definitions) -> None:
    """The primary-tumour inputs of decision record 0035: the rectal third (when no distance settles the height;
    validation has made the two agree when both are given) and the pathological stage, kept apart from the
    clinical one (`locally_advanced` stays cT/cN only)."""
    if pr.location == "rectum" and pr.rectal_third is not None:
        v["rectal_third"] = pr.rectal_third
        if v["rectal_height"] is None:
            v["rectal_height"] = d.params("rectal_height")["third"][pr.rectal_third]
    after = pr.ypt is not None or pr.ypn is not None
    t, n = (pr.ypt, pr.ypn) if after else (pr.pt, pr.pn)
    v["pt"] = t[:3] if t == "Tis" else (t[:2] if t else None)
    v["pn"] = n[:2] if n else None
    if t is not None or n is not None:
        v["pathological_after_neoadjuvant"] = after
    params = d.params("pathological_advanced")
    if pr.status == "in_place":
        v["pathological_advanced"] = False  # no resection specimen: no pathological stage, advanced or not
    else:
        t_adv = None if v["pt"] is None else v["pt"] in params["t_categories"]
        n_pos = None if v["pn"] is None else v["pn"] in params["n_categories"]
        v["pathological_advanced"] = kleene_or([t_adv, n_pos])


# ---- individual lesions, bilobar and disappearing liver metastases, complete response (decision record 0036) ----
def _ctdna_discordant(p: Patient, tissue_ras: str | None) -> bool | None:
    """ctDNA RAS mutant against RAS wild-type tissue with no anti-EGFR therapy begun before the ctDNA test (then
    it cannot be acquired resistance; definitions.yaml ctdna_discordance)."""
    b = p.biomarkers
    ctdna = b.ctdna if b else None
    if tissue_ras == "mutant":
        return False  # no RAS wild-type tissue for a ctDNA result to disagree with, whatever the ctDNA shows
    if ctdna is None or ctdna.ras is None:
        return None
    if ctdna.ras != "mutant" or b.specimen == "liquid_biopsy":
        return False  # nothing to disagree with: ctDNA clear of RAS, or no tissue result at all
    if tissue_ras != "wild_type":
        return None if tissue_ras is None else False
    hist = p.treatment_history
    if hist is None or hist.courses is None:
        return None
    vocab = load_vocabulary()
    earlier = []
    for c in hist.courses:
        drugs = c.drug_codes()
        has = None if drugs is None else any(vocab.terms["drugs"][d].klass == "anti_egfr" for d in drugs)
        started_before = None if ctdna.date is None or c.started is None else c.started <= ctdna.date
        earlier.append(kleene_and([has, started_before]))
    anti_egfr_before = kleene_or(earlier)
    return None if anti_egfr_before is None else not anti_egfr_before


def _ned(p: Patient) -> bool | None:
    """NED if recorded; recorded metastases without an NED flag are current disease (input contract)."""
    if p.ned_date is not None or p.ned is not None:
        return p.ned_date is not None or bool(p.ned)
    return False if p.metastases else None


def _mmr(mmr: str | None, msi: str | None) -> tuple[str | None, str | None]:
    calls = set()
    if mmr is not None:
        calls.add("dmmr_msi_h" if mmr == "deficient" else "pmmr_mss")
    if msi is not None:
        calls.add("dmmr_msi_h" if msi == "msi_high" else "pmmr_mss")
    if len(calls) == 1:
        return calls.pop(), None
    if len(calls) == 2:
        return None, "MMR immunohistochemistry and MSI results disagree; status left unknown until resolved"
    return None, None


_PARAMS: dict[int, tuple[Definitions, Params]] = {}


def _params(d: Definitions) -> Params:
    """Params.from_definitions, kept per definitions object (which it keeps alive; definitions are not changed
    after loading)."""
    hit = _PARAMS.get(id(d))
    if hit is None or hit[0] is not d:
        if len(_PARAMS) > 100:
            _PARAMS.clear()
        hit = _PARAMS[id(d)] = (d, Params.from_definitions(d))
    return hit[1]


def _history(p: Patient, v: dict, lesions: list[Lesion], d: Definitions, today: dt.date) -> None:
    """The treatment-history facts (mcrc.facts.history holds the conventions they follow)."""
    hist = p.treatment_history
    courses = hist.courses if hist else None
    if courses is not None:
        h = History(p, load_vocabulary(), _params(d), today)
        v["systemic_history_known"] = True
        v["neoadjuvant_given"] = any(c.intent in PREOPERATIVE for c in courses)
        v["neoadjuvant_progression"], v["preop_progression_ever"] = h.preoperative_progression()
        v["preop_irinotecan_effective"] = h.preop_irinotecan_effective()
        v["preop_irinotecan_regimen"] = h.preop_irinotecan_regimen()
        v["preoperative_months_given"] = h.preoperative_months()
        known = [h.classes(c) for c in courses]
        undrugged = None in known  # a course whose drugs are not all known may hold any class
        given = frozenset().union(*(k for k in known if k is not None))
        for klass in CLASSES:
            if undrugged or klass in given:
                v[f"{klass}_exposed"] = h.exposed(klass)
                v[f"{klass}_refractory"] = h.refractory(klass)
            else:  # no course holds the class: not exposed, so not refractory (what h.exposed/h.refractory give)
                v[f"{klass}_exposed"] = v[f"{klass}_refractory"] = False
        v["adjuvant_oxaliplatin_failure_12m"] = h.adjuvant_oxaliplatin_failure()
        for klass in INTOLERANCE_CLASSES:
            v[f"{klass}_intolerant"] = h.intolerant(klass)
            v[f"{klass}_failed"] = kleene_or([v[f"{klass}_refractory"], v[f"{klass}_intolerant"]])
        # for the choice of a regimen the guideline's 12-month window after adjuvant oxaliplatin counts as failure
        # (CONVENTIONS A1), beside the trials' 6 months that refractoriness uses
        v["oxaliplatin_failed"] = kleene_or([v["oxaliplatin_failed"], v["adjuvant_oxaliplatin_failure_12m"]])
        v["lines_received"], v["lines_failed"], lines = h.lines()
        v["first_chemotherapy_line"] = h.first_chemotherapy_line(lines, v["lines_received"])
        v["progressing"] = h.progressing()
        v["controlled_on_chemotherapy"], v["objective_response"] = h.controlled_on_chemotherapy(v["lines_received"])
        v["conversion_response"] = h.conversion_response()
        v.update(h.anti_egfr())
    radiotherapy = hist.radiotherapy if hist else None
    if radiotherapy is not None:
        v["prior_pelvic_radiotherapy"] = any(x.site == "pelvis" for x in radiotherapy)
    procs = hist.procedures if hist else None
    if procs is not None:
        liver_res = [x for x in procs if x.kind == "liver_resection"]
        v["prior_liver_resection"] = bool(liver_res)
        if not liver_res:
            v["liver_resection_margin"] = "none"
            v["liver_recurrence_after_resection"] = False
        else:
            if all(x.margin for x in liver_res):
                v["liver_resection_margin"] = max(x.margin for x in liver_res)
            liver_found = [m.found for m in lesions if m.organ == "liver"]
            dates = [x.date for x in liver_res]
            if not liver_found:
                v["liver_recurrence_after_resection"] = False if p.metastases is not None else None
            elif all(liver_found) and all(dates):
                v["liver_recurrence_after_resection"] = min(liver_found) > min(dates)
        lung_res = [x for x in procs if x.kind in ("lung_sublobar_resection", "lung_lobectomy")]
        v["lung_lobectomy_done"] = any(x.kind == "lung_lobectomy" for x in lung_res)
        margins = [x.margin for x in lung_res]
        if not lung_res:
            v["lung_resection_margin"] = "none"
        elif all(m is not None for m in margins):
            v["lung_resection_margin"] = max(margins)
