"""Derived facts: each definition's boundaries, and unknown staying unknown."""

import datetime as dt

import pytest

from mcrc import derive_facts, parse_patient
from mcrc.facts.derive import worst_resectability
from mcrc.facts.history import add_months
from mcrc.facts.timing import whole_months


def facts(**patient):
    return derive_facts(parse_patient(patient)).values


def lung(**kw):
    base = {"organ": "lung", "count": 1, "resectability": "resectable"}
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("distance", "height"),
    [(0, "middle_lower"), (5, "middle_lower"), (10, "middle_lower"), (10.1, "upper"), (15, "upper")],
)
def test_rectal_height_boundary_is_10_cm_inclusive(distance, height):
    v = facts(primary={"location": "rectum", "distance_from_anal_verge_cm": distance})
    assert v["rectal_height"] == height
    assert v["primary_site"] == "rectum"


def test_rectal_height_unknown_without_distance_and_absent_for_colon():
    assert facts(primary={"location": "rectum"})["rectal_height"] is None
    v = facts(primary={"location": "sigmoid_colon"})
    assert v["rectal_height"] is None
    assert v["primary_site"] == "colon"


@pytest.mark.parametrize(
    ("location", "side"),
    [("caecum", "right"), ("hepatic_flexure", "right"), ("transverse_colon", "right"),
     ("splenic_flexure", "left"), ("sigmoid_colon", "left"), ("rectosigmoid", "left"), ("rectum", "left")],
)
def test_sidedness(location, side):
    assert facts(primary={"location": location})["sidedness"] == side


@pytest.mark.parametrize(
    ("ct", "cn", "advanced"),
    [("T2", "N0", False), ("T3", "N0", True), ("T4b", "N0", True), ("T1", "N1a", True), ("T2", None, None),
     ("T3", None, True), (None, "N2", True), (None, "N0", None)],
)
def test_locally_advanced_is_t3_4_or_node_positive_with_kleene_or(ct, cn, advanced):
    primary = {k: v for k, v in {"ct": ct, "cn": cn}.items() if v}
    assert facts(primary=primary)["locally_advanced"] is advanced


@pytest.mark.parametrize(
    ("resected", "found", "months", "short"),
    [("2024-01-15", "2026-01-14", 23, True), ("2024-01-15", "2026-01-15", 24, False),
     ("2024-01-31", "2024-02-28", 0, True), ("2024-01-31", "2024-02-29", 1, True)],
)
def test_dfi_whole_months_and_24_month_boundary(resected, found, months, short):
    v = facts(primary={"status": "resected", "resected_on": resected},
              metastases=[lung(found=found, timing="metachronous")])
    assert v["dfi_months"] == months
    assert (v["dfi_months"] < 24) is short


def test_dfi_is_zero_for_synchronous_and_unknown_without_dates():
    assert facts(metastases=[lung(timing="synchronous")])["dfi_months"] == 0
    assert facts(primary={"status": "resected"}, metastases=[lung(timing="metachronous")])["dfi_months"] is None


def _adjuvant(ended, relapse, regimen="FOLFOX"):
    return {"courses": [{"setting": "adjuvant", "regimen": regimen, "started": "2024-01-01", "ended": ended,
                         "progression_date": relapse}], "procedures": []}


@pytest.mark.parametrize(
    ("relapse", "within"),
    [("2025-06-30", True), ("2025-07-01", True), ("2025-07-02", False), ("2026-01-01", False)],
)
def test_adjuvant_oxaliplatin_failure_12_month_boundary(relapse, within):
    v = facts(treatment_history=_adjuvant("2024-07-01", relapse))
    assert v["adjuvant_oxaliplatin_failure_12m"] is within
    assert v["oxaliplatin_failed"] is within
    assert v["irinotecan_failed"] is False


def test_adjuvant_failure_uses_first_metastasis_after_course_when_no_relapse_date():
    hist = _adjuvant("2024-07-01", None)
    v = facts(treatment_history=hist, metastases=[lung(found="2025-03-01")])
    assert v["adjuvant_oxaliplatin_failure_12m"] is True
    assert facts(treatment_history=hist, metastases=[lung()])["adjuvant_oxaliplatin_failure_12m"] is None


def test_adjuvant_without_oxaliplatin_is_not_oxaliplatin_failure():
    v = facts(treatment_history=_adjuvant("2024-07-01", "2024-09-01", regimen="CAPECITABINE"))
    assert v["adjuvant_oxaliplatin_failure_12m"] is False


def test_history_unknown_leaves_history_facts_unknown():
    v = facts(age=60)
    for name in ("neoadjuvant_progression", "oxaliplatin_failed", "adjuvant_oxaliplatin_failure_12m",
                 "lines_failed", "progressing"):
        assert v[name] is None, name


def test_palliative_lines_and_drug_failures():
    courses = [
        {"setting": "palliative", "line": 1, "regimen": "FOLFOX", "started": "2024-02-01", "outcome": "progression"},
        {"setting": "palliative", "line": 2, "regimen": "FOLFIRI", "started": "2024-09-01", "outcome": "progression"},
    ]
    v = facts(treatment_history={"courses": courses})
    assert v["lines_received"] == 2
    assert v["oxaliplatin_exposed"] is True and v["irinotecan_exposed"] is True
    assert facts(treatment_history={"courses": []})["oxaliplatin_exposed"] is False
    assert v["anti_egfr_exposed"] is False and v["anti_vegf_exposed"] is False
    bev = facts(treatment_history={"courses": [{"setting": "palliative", "regimen": "FOLFOX_BEV"}]})
    assert bev["anti_vegf_exposed"] is True and bev["oxaliplatin_exposed"] is True
    assert v["lines_failed"] == 2
    assert v["oxaliplatin_failed"] is True and v["irinotecan_failed"] is True
    assert v["progressing"] is True


def test_neoadjuvant_progression_and_irinotecan_response():
    prog = {"courses": [{"setting": "neoadjuvant", "regimen": "FOLFOX", "outcome": "progression"}]}
    assert facts(treatment_history=prog)["neoadjuvant_progression"] is True
    resp = {"courses": [{"setting": "neoadjuvant", "regimen": "FOLFIRI", "outcome": "response"}]}
    v = facts(treatment_history=resp)
    assert v["neoadjuvant_progression"] is False
    assert v["preop_irinotecan_effective"] is True
    unknown = {"courses": [{"setting": "neoadjuvant", "regimen": "FOLFIRI"}]}
    assert facts(treatment_history=unknown)["neoadjuvant_progression"] is None


@pytest.mark.parametrize(
    ("kras", "nras", "ras"),
    [("wild_type", "wild_type", "wild_type"), ("mutant", None, "mutant"), (None, "mutant", "mutant"),
     ("wild_type", None, None), (None, None, None)],
)
def test_ras_needs_both_genes_for_wild_type(kras, nras, ras):
    bio = {k: v for k, v in {"kras": kras, "nras": nras}.items() if v}
    assert facts(biomarkers=bio)["ras"] == ras


def test_mmr_msi_equivalence_and_discordance():
    assert facts(biomarkers={"mmr": "deficient"})["mmr_status"] == "dmmr_msi_h"
    assert facts(biomarkers={"msi": "stable"})["mmr_status"] == "pmmr_mss"
    f = derive_facts(parse_patient({"biomarkers": {"mmr": "deficient", "msi": "stable"}}))
    assert f.values["mmr_status"] is None
    assert any("disagree" in n for n in f.notes)


def test_worst_resectability():
    assert worst_resectability(["resectable", "potentially_resectable"]) == "potentially_resectable"
    assert worst_resectability(["resectable", None]) is None
    assert worst_resectability([None, "unresectable"]) == "unresectable"


def test_metastasis_aggregation():
    v = facts(metastases=[lung(count=2, largest_size={"value": 1.2, "unit": "cm"}, bilateral=False),
                          lung(count=1, largest_size={"value": 8, "unit": "mm"}, bilateral=True)])
    assert v["lung_met_count"] == 3
    assert v["lung_largest_mm"] == 12
    assert v["lung_bilateral"] is True
    assert v["isolated_lung"] is True
    assert v["extrapulmonary_sites"] == 0
    assert v["extrapulmonary_resectability"] == "none"
    assert v["lung_zone"] is None  # zone is only meaningful for a single lesion


def test_sites_absent_means_unknown_empty_means_none():
    assert facts(age=60)["lung_mets"] is None
    assert facts(metastases=[])["lung_mets"] is False


def test_oligometastatic_rule_two_sites_is_no_longer_oligo():
    one = facts(metastases=[lung(), {"organ": "liver", "count": 2}])
    two = facts(metastases=[lung(), {"organ": "liver", "count": 2}, {"organ": "bone"}])
    assert one["oligometastatic"] is True and one["extrapulmonary_sites"] == 1
    assert two["oligometastatic"] is False and two["extrapulmonary_sites"] == 2


def test_lung_timing_and_initial():
    # found before any treatment of the primary began: synchronous, hence initial
    v = facts(primary={"status": "in_place", "diagnosed": "2026-01-01"}, treatment_history={"courses": []},
              metastases=[lung(found="2026-01-10")])
    assert v["lung_timing"] == "synchronous" and v["lung_initial"] is True
    # found after the primary was resected: metachronous
    v = facts(primary={"status": "resected", "resected_on": "2025-01-10"}, metastases=[lung(found="2026-01-10")])
    assert v["lung_timing"] == "metachronous" and v["lung_initial"] is True
    # liver metastases found before the lung ones: non-initial
    v = facts(primary={"status": "resected", "resected_on": "2024-01-10"},
              metastases=[lung(found="2026-01-10"), {"organ": "liver", "found": "2025-01-10"}])
    assert v["lung_initial"] is False


def test_ned_from_date_or_flag():
    assert facts(ned_date="2026-01-01")["ned"] is True
    assert facts(ned=False)["ned"] is False
    assert facts(age=50)["ned"] is None


def test_month_arithmetic():
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2023, 11, 15), 14) == dt.date(2025, 1, 15)
    assert whole_months(dt.date(2024, 1, 15), dt.date(2024, 2, 14)) == 0
    assert whole_months(dt.date(2024, 1, 15), dt.date(2024, 2, 15)) == 1


def test_recorded_metastases_without_ned_flag_are_current_disease():
    assert facts(metastases=[lung()])["ned"] is False
    assert facts(metastases=[lung()], ned=True)["ned"] is True


def test_liver_resection_before_lung_lesions_makes_them_non_initial():
    v = facts(primary={"status": "resected", "resected_on": "2023-01-10"},
              treatment_history={"procedures": [{"kind": "liver_resection", "date": "2025-03-01"}]},
              metastases=[lung(found="2026-02-01", timing="metachronous")])
    assert v["lung_initial"] is False
    assert v["isolated_lung"] is True


def test_prior_pelvic_radiotherapy_from_radiotherapy_courses():
    assert facts(treatment_history={"procedures": [{"kind": "pelvic_radiotherapy"}]})["prior_pelvic_radiotherapy"]
    assert facts(treatment_history={"radiotherapy": [{"kind": "short_course", "site": "pelvis"}]}
                 )["prior_pelvic_radiotherapy"] is True
    assert facts(treatment_history={"radiotherapy": [{"kind": "sbrt", "site": "lung"}]}
                 )["prior_pelvic_radiotherapy"] is False
    assert facts(treatment_history={"radiotherapy": []})["prior_pelvic_radiotherapy"] is False
    assert facts(schema_version="2", treatment_history={"procedures": []})["prior_pelvic_radiotherapy"] is None
    # schema 1 kept radiotherapy among the procedures: a schema-1 list without it says none was given (a document
    # that states no version and uses nothing of schema 2 is read as schema 1, as it was written)
    assert facts(schema_version="1", treatment_history={"procedures": []})["prior_pelvic_radiotherapy"] is False
    assert facts(treatment_history={"procedures": []})["prior_pelvic_radiotherapy"] is False
    assert facts(age=60)["prior_pelvic_radiotherapy"] is None


def test_add_months_clamps_as_the_calendar_does_over_four_centuries():
    """Every month-end and every shift of -25..25 months from the last days of each month of 1900-2300 lands on
    the day `calendar.monthrange` gives (leap years by the Gregorian rule: 1900 and 2100 are not, 2000 is)."""
    import calendar

    for year in range(1900, 2301):
        for month in range(1, 13):
            for day in (28, 29, 30, 31):
                if day > calendar.monthrange(year, month)[1]:
                    continue
                start = dt.date(year, month, day)
                for shift in range(-25, 26):
                    index = month - 1 + shift
                    y, m = year + index // 12, index % 12 + 1
                    assert add_months(start, shift) == dt.date(y, m, min(day, calendar.monthrange(y, m)[1]))
