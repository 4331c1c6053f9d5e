"""Issue 19 item 3 (decision record 0036): lesions listed one by one (size, lung zone, side, suitability for
resection), bilobar liver disease, disappearing liver metastases and sites in complete response.

Vignettes run real patients through `mcrc.assess`; the input tests check each new field's boundaries, bad values
and the contradictions it must refuse (with messages naming both fields).
"""

from __future__ import annotations

import pytest

import mcrc
from mcrc.errors import InputError
from mcrc.patient import parse_patient
from tests.patients import DROP, lung, merge, patient, site
from tests.vignettes import V, check, param

MM = "mm"


def size(value: float, unit: str = MM) -> dict:
    return {"value": value, "unit": unit}


# Two lung nodules: one peripheral and resectable, the other central and unsuitable for surgery by its position.
MIXED = lung(count=2, zone=DROP, largest_size=size(18), lesions=[
    {"size": size(12), "zone": "outer", "side": "right", "suitable_for_resection": True},
    {"size": size(18), "zone": "inner", "side": "right", "suitable_for_resection": False}])
# A single central nodule that surgery does not suit because of where it lies (the patient is fit for surgery).
SINGLE_CENTRAL = lung(count=1, zone=DROP, largest_size=DROP, lesions=[
    {"size": size(15), "zone": "inner", "suitable_for_resection": False}])
SINGLE_CENTRAL_OK = lung(count=1, zone=DROP, largest_size=DROP, lesions=[
    {"size": size(15), "zone": "inner", "suitable_for_resection": True}])
# A single peripheral nodule listed without a site count, zone or size: all three come from the list.
SINGLE_OUTER_LISTED = lung(count=DROP, zone=DROP, largest_size=DROP, lesions=[{"size": size(9), "zone": "outer"}])
UNFIT = {"fitness": {"fit_for_surgery": False}}
# Liver metastases on conversion FOLFOX (schema 2 course, still going), staged again in November.
CONVERSION = {"treatment_history": {"courses": [
    {"intent": "conversion", "regimen": "FOLFOX", "started": "2026-09-20", "stop_reason": "ongoing",
     "best_response": "partial"}], "procedures": []}}


def liver(**kw) -> dict:
    """Three liver metastases (largest 35 mm) on conversion therapy, potentially resectable."""
    return site("liver", "potentially_resectable", **{"count": 3, "largest_size": size(35),
                                                      "small_and_accessible": False, "major_resection_needed": False,
                                                      **kw})


VIGNETTES = [
    V("lung.local.mixed_suitability", "one-resectable-one-central",
      patient(metastases=[MIXED]),
      must={"local_treatment": "lung_sublobar_resection lung_sbrt lung_rfa", "warnings": "local_needs_control",
            "considerations": "combined_lung_local"},
      not_fired="lung.local.nonsurgical_inner lung.local.nonsurgical_multiple"),
    V("lung.local.nonsurgical_inner", "single-central-lesion-unsuitable-by-position",
      patient(metastases=[SINGLE_CENTRAL]),
      must={"local_treatment": "lung_sbrt"},
      must_not={"local_treatment": "lung_sublobar_resection lung_lobectomy_last_resort"},
      not_fired="lung.local.resection_principles lung.local.mixed_suitability"),
    V("lung.local.nonsurgical_outer", "single-lesion-zone-count-from-the-list",
      patient(UNFIT, metastases=[SINGLE_OUTER_LISTED]),
      must={"local_treatment": "lung_rfa"}),
    V("liver.warnings.disappeared", "two-of-three-vanished-on-conversion-folfox",
      patient(CONVERSION, metastases=[liver(disappeared_count=2)]),
      must={"warnings": "liver_lesions_disappeared avoid_complete_response"}),
    V("liver.warnings.disappeared", "complete-response-of-the-liver",
      patient(CONVERSION, metastases=[liver(disappeared_count=3, complete_response=True)]),
      must={"warnings": "liver_lesions_disappeared"}),
]


@pytest.mark.parametrize("vignette", [param(v) for v in VIGNETTES])
def test_vignette(vignette: V) -> None:
    check(vignette)


# ---- facts, through mcrc.assess ---------------------------------------------------------------------------------
def _facts(p: dict) -> dict:
    return mcrc.assess(p).facts


def test_mixed_lesions_are_some_and_keep_the_surgical_route() -> None:
    a = mcrc.assess(patient(metastases=[MIXED]))
    assert a.facts["lung_lesions_resectable"] == "some"
    assert "lung.local.resection_principles" in a.fired_rows()  # the suitable lesion is still resected
    assert "lung_zone" not in a.facts  # two lesions: no single zone


def test_a_central_lesion_judged_resectable_goes_to_surgery() -> None:
    a = mcrc.assess(patient(metastases=[SINGLE_CENTRAL_OK]))
    assert a.facts["lung_lesions_resectable"] == "all"
    assert a.facts["lung_zone"] == "inner"
    assert "lung.local.resection_principles" in a.fired_rows()
    assert "lung.local.nonsurgical_inner" not in a.fired_rows()


def test_single_unsuitable_lesion_takes_the_nonsurgical_route() -> None:
    a = mcrc.assess(patient(metastases=[SINGLE_CENTRAL]))
    assert a.facts["lung_lesions_resectable"] == "none"
    fired = a.fired_rows()
    assert "lung.route.isolated_resectable_nonsurgical_primary_present" in fired
    assert not {"lung.route.table2_other", "lung.route.table2_rectal_advanced"} & set(fired)


def test_lesions_not_listed_change_nothing() -> None:
    """Without a list the per-lesion facts stay unknown and no new row is even possible."""
    a = mcrc.assess(patient())
    assert "lung_lesions_resectable" not in a.facts
    assert not {p.row for p in a.possible} & {"lung.local.mixed_suitability", "liver.warnings.disappeared"}


def test_one_unjudged_lesion_leaves_suitability_unknown_unless_mixed() -> None:
    one = lung(count=DROP, zone=DROP, lesions=[{"suitable_for_resection": True}, {"zone": "inner"}])
    assert "lung_lesions_resectable" not in _facts(patient(metastases=[one]))
    three = lung(count=DROP, zone=DROP, lesions=[{"suitable_for_resection": True}, {},
                                                 {"suitable_for_resection": False}])
    assert _facts(patient(metastases=[three]))["lung_lesions_resectable"] == "some"


def test_count_size_and_sides_come_from_the_list() -> None:
    listed = lung(count=DROP, zone=DROP, largest_size=DROP, bilateral=DROP,
                  lesions=[{"size": size(1.2, "cm"), "side": "left"}, {"size": size(7), "side": "right"}])
    f = _facts(patient(metastases=[listed]))
    assert (f["lung_met_count"], f["lung_largest_mm"], f["lung_bilateral"]) == (2, 12, True)
    one_side = merge(listed, {"lesions": [{"side": "left"}, {"side": "left"}]})
    assert _facts(patient(metastases=[one_side]))["lung_bilateral"] is False
    unknown_side = merge(listed, {"lesions": [{"side": "left"}, {}]})
    assert "lung_bilateral" not in _facts(patient(metastases=[unknown_side]))


def test_liver_dominance_reads_listed_lung_nodules() -> None:
    small = lung(count=DROP, zone=DROP, largest_size=DROP, lesions=[{"size": size(8)}, {"size": size(6)}])
    assert _facts(patient(CONVERSION, metastases=[liver(), small]))["liver_dominant"] is True
    large = merge(small, {"lesions": [{"size": size(8)}, {"size": size(12)}]})
    assert _facts(patient(CONVERSION, metastases=[liver(), large]))["liver_dominant"] is False
    unmeasured = merge(small, {"lesions": [{"size": size(8)}, {}]})
    assert "liver_dominant" not in _facts(patient(CONVERSION, metastases=[liver(), unmeasured]))


@pytest.mark.parametrize(("site_kw", "expected"), [
    pytest.param({"bilobar": True}, True, id="recorded"),
    pytest.param({"bilobar": False}, False, id="recorded-false"),
    pytest.param({"lesions": [{"side": "left"}, {"side": "right"}, {}]}, True, id="from-sides"),
    pytest.param({"lesions": [{"side": "right"}, {"side": "right"}, {"side": "right"}]}, False, id="one-lobe"),
    pytest.param({"lesions": [{"side": "right"}, {"side": "right"}, {}]}, None, id="a-side-unknown"),
    pytest.param({}, None, id="not-recorded"),
])
def test_bilobar_is_a_descriptive_fact(site_kw: dict, expected: bool | None) -> None:
    a = mcrc.assess(patient(CONVERSION, metastases=[liver(**site_kw)]))
    assert a.facts.get("liver_bilobar") == expected
    # no source turns a decision on it: the answer is the same either way
    plain = mcrc.assess(patient(CONVERSION, metastases=[liver()]))
    assert a.fired_rows() == plain.fired_rows()


def test_disappeared_count_and_complete_response_facts() -> None:
    f = _facts(patient(CONVERSION, metastases=[liver(disappeared_count=0), lung()]))
    assert f["liver_disappeared_count"] == 0
    assert "liver.warnings.disappeared" not in mcrc.assess(
        patient(CONVERSION, metastases=[liver(disappeared_count=0)])).fired_rows()
    f = _facts(patient(CONVERSION, metastases=[liver(complete_response=True), lung(complete_response=False)]))
    assert (f["liver_complete_response"], f["lung_complete_response"], f["all_sites_complete_response"]) == \
        (True, False, False)
    f = _facts(patient(CONVERSION, metastases=[liver(complete_response=True), lung(complete_response=True)]))
    assert f["all_sites_complete_response"] is True
    f = _facts(patient(CONVERSION, metastases=[liver(complete_response=True), lung()]))
    assert "all_sites_complete_response" not in f


# ---- input: boundaries ------------------------------------------------------------------------------------------
def _ok(p: dict) -> None:
    parse_patient(p)


@pytest.mark.parametrize("p", [
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=0)]), id="disappeared-0"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=3, complete_response=True)]),
                 id="disappeared-equals-count"),
    pytest.param(patient(CONVERSION, metastases=[liver(count=500, disappeared_count=500)]), id="disappeared-500"),
    pytest.param(patient(metastases=[lung(count=20, zone=DROP, lesions=[{}] * 20)]), id="twenty-lesions"),
    pytest.param(patient(metastases=[lung(count=1, zone="outer", lesions=[{"zone": "outer"}])]), id="zone-agrees"),
    pytest.param(patient(metastases=[lung(zone=DROP, largest_size=size(1.4, "cm"),
                                          lesions=[{"size": size(14)}, {"size": size(9)}])]), id="size-agrees"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[{"size": size(9)}, {}])]), id="smaller-partial"),
    pytest.param(patient(metastases=[lung(complete_response=True)],
                         treatment_history={"courses": [], "radiotherapy": [{"kind": "sbrt", "site": "lung"}]}),
                 id="cr-after-sbrt"),
    pytest.param(patient(metastases=[site("bone", "unresectable", lesions=[{"size": size(25)}])]), id="bone-size"),
])
def test_boundaries_accepted(p: dict) -> None:
    _ok(p)


# ---- input: bad values and contradictions -------------------------------------------------------------------------
def _problems(p: dict) -> list[tuple[str, str]]:
    with pytest.raises(InputError) as exc:
        parse_patient(p)
    return [(x.where, x.message) for x in exc.value.problems]


COMPLETE = {"treatment_history": {"courses": [
    {"intent": "palliative", "regimen": "FOLFOX", "started": "2026-09-20", "ended": "2026-11-20",
     "best_response": "complete", "stop_reason": "completed"}], "procedures": []}}


@pytest.mark.parametrize(("p", "where", "message"), [
    pytest.param(patient(metastases=[lung(count=3, zone=DROP, lesions=[{}, {}])]),
                 "metastases[0]", "count is 3 but lesions lists 2", id="count-mismatch"),
    pytest.param(patient(metastases=[lung(zone="outer", lesions=[{}, {}])]),
                 "metastases[0]", "zone describes a single lung metastasis but lesions lists 2", id="site-zone-two"),
    pytest.param(patient(metastases=[lung(count=1, zone="outer", lesions=[{"zone": "inner"}])]),
                 "metastases[0]", "zone is outer but lesions[0].zone is inner", id="zone-contradiction"),
    pytest.param(patient(metastases=[lung(zone=DROP, largest_size=size(14), lesions=[{"size": size(2, "cm")}, {}])]),
                 "metastases[0]", "lesions[0].size (20 mm) is larger than largest_size (14 mm)", id="lesion-too-big"),
    pytest.param(patient(metastases=[lung(zone=DROP, largest_size=size(30),
                                          lesions=[{"size": size(14)}, {"size": size(9)}])]),
                 "metastases[0]", "largest_size is 30 mm but the largest of the lesions listed measures 14 mm",
                 id="site-size-too-big"),
    pytest.param(patient(CONVERSION, metastases=[liver(lesions=[{"zone": "outer"}, {}, {}])]),
                 "metastases[0]", "lesions[0].zone apply only to lung lesions (organ is liver)", id="zone-on-liver"),
    pytest.param(patient(metastases=[site("peritoneum", "unresectable", lesions=[{"side": "left"}])]),
                 "metastases[0]", "lesions[0].side apply only to lung", id="side-on-peritoneum"),
    pytest.param(patient(metastases=[lung(zone=DROP, bilateral=False,
                                          lesions=[{"side": "left"}, {"side": "right"}])]),
                 "metastases[0]", "bilateral is false but lesions lists lesions on the left and on the right",
                 id="bilateral-false"),
    pytest.param(patient(metastases=[lung(zone=DROP, bilateral=True, lesions=[{"side": "left"}, {"side": "left"}])]),
                 "metastases[0]", "bilateral is true but every lesion listed is on the left", id="bilateral-true"),
    pytest.param(patient(CONVERSION, metastases=[liver(bilobar=False, lesions=[{"side": "left"}, {"side": "right"},
                                                                               {}])]),
                 "metastases[0]", "bilobar is false but lesions lists lesions on the left and on the right",
                 id="bilobar-false"),
    pytest.param(patient(metastases=[lung(bilobar=True)]),
                 "metastases[0]", "bilobar apply only to liver lesions (organ is lung)", id="bilobar-on-lung"),
    pytest.param(patient(metastases=[lung(disappeared_count=1)]),
                 "metastases[0]", "disappeared_count apply only to liver lesions", id="disappeared-on-lung"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=4)]),
                 "metastases[0]", "disappeared_count (4) is more than the site's lesions (count 3)",
                 id="disappeared-more-than-count"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=2, complete_response=True)]),
                 "metastases[0]", "complete_response is true but disappeared_count (2) is less than count (3)",
                 id="cr-but-lesions-left"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=3, complete_response=False)]),
                 "metastases[0]", "complete_response is false but all 3 lesions disappeared", id="all-gone-not-cr"),
    pytest.param(patient(metastases=[liver(disappeared_count=1)]),  # base(): courses []
                 "(patient)", "metastases[0].disappeared_count is 1 (lesions that disappeared during chemotherapy) "
                 "but treatment_history.courses is empty", id="disappeared-without-chemotherapy"),
    pytest.param(patient(metastases=[lung(complete_response=True)],
                         treatment_history={"courses": [], "radiotherapy": []}),
                 "(patient)", "metastases[0].complete_response is true but treatment_history records neither",
                 id="cr-without-treatment"),
    pytest.param(patient(COMPLETE, metastases=[lung(complete_response=False)]),
                 "(patient)", "metastases[0].complete_response is false but the latest course for metastatic "
                 "disease (treatment_history.courses[0]) has best_response 'complete'", id="cr-course-vs-site"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=-1)]),
                 "metastases[0].disappeared_count", "greater than or equal to 0", id="disappeared-negative"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=501)]),
                 "metastases[0].disappeared_count", "less than or equal to 500", id="disappeared-501"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count=1.5)]),
                 "metastases[0].disappeared_count", "expected a whole number", id="disappeared-fraction"),
    pytest.param(patient(CONVERSION, metastases=[liver(disappeared_count="2")]),
                 "metastases[0].disappeared_count", "expected a whole number, got the text '2'", id="disappeared-text"),
    pytest.param(patient(metastases=[lung(complete_response="yes")]),
                 "metastases[0].complete_response", "expected true or false", id="cr-text"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[{"suitable_for_resection": "no"}, {}])]),
                 "metastases[0].lesions[0].suitable_for_resection", "expected true or false", id="suitable-text"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[{"zone": "central"}, {}])]),
                 "metastases[0].lesions[0].zone", "'central' is not an allowed value", id="zone-bad"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[{"side": "both"}, {}])]),
                 "metastases[0].lesions[0].side", "'both' is not an allowed value", id="side-bad"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[{"size": size(0)}, {}])]),
                 "metastases[0].lesions[0].size.value", "greater than 0", id="size-zero"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[{"lobe": "upper"}, {}])]),
                 "metastases[0].lesions[0].lobe", "unknown field", id="unknown-field"),
    pytest.param(patient(metastases=[lung(zone=DROP, lesions=[])]),
                 "metastases[0].lesions", "at least 1 item", id="empty-list"),
    pytest.param(patient(metastases=[lung(count=21, zone=DROP, lesions=[{}] * 21)]),
                 "metastases[0].lesions", "at most 20 items", id="21-lesions"),
])
def test_bad_values_refused(p: dict, where: str, message: str) -> None:
    problems = _problems(p)
    assert any(w == where and message in m for w, m in problems), problems


def test_old_records_without_the_new_fields_still_validate() -> None:
    """Every new field is optional: a stored schema-2 patient without them is read as before."""
    p = parse_patient(patient())
    assert all(m.lesions is None and m.complete_response is None for m in p.metastases)


# ---- the cohort schema ------------------------------------------------------------------------------------------
def test_cohort_files_without_the_lesion_columns_still_audit(tmp_path) -> None:
    """The new fact columns are optional: a file written before them validates, each is unknown in every row, and
    the audit (column-pruned Parquet read, full read, both backends) answers as with the columns present and
    empty."""
    import polars as pl

    from mcrc.cohort.audit import run_audit, vocabulary_codes
    from mcrc.cohort.schema import OPTIONAL_FACTS, read_cohort
    from tests.test_cohort_helpers import raw_rows

    frame = raw_rows(40, 3, 0.1)
    empty = frame.with_columns([pl.lit(None, dtype=frame.schema[c]).alias(c) for c in OPTIONAL_FACTS])
    old, new = tmp_path / "old.parquet", tmp_path / "new.parquet"
    frame.drop(*OPTIONAL_FACTS).write_parquet(old)
    empty.write_parquet(new)
    read = read_cohort(old, vocabulary_codes(mcrc.load_knowledge()))
    assert all(read.get_column(c).null_count() == read.height for c in OPTIONAL_FACTS)
    for engine in ("polars", "duckdb"):
        for decisions in (False, True):
            a = run_audit(old, engine=engine, decisions=decisions)
            b = run_audit(new, engine=engine, decisions=decisions)
            assert a.concordance.equals(b.concordance)


def test_cohort_lesion_column_out_of_domain_is_named(tmp_path) -> None:
    import polars as pl

    from mcrc.cohort.audit import vocabulary_codes
    from mcrc.cohort.schema import CohortError, read_cohort
    from tests.test_cohort_helpers import raw_rows

    p = tmp_path / "bad.parquet"
    raw_rows(5, 4, 0.0).with_columns(pl.lit("partly").alias("lung_lesions_resectable"),
                                     pl.lit(501).alias("liver_disappeared_count")).write_parquet(p)
    with pytest.raises(CohortError) as exc:
        read_cohort(p, vocabulary_codes(mcrc.load_knowledge()))
    text = str(exc.value)
    assert "column lung_lesions_resectable" in text and "'partly'" in text and "all, some, none" in text
    assert "column liver_disappeared_count" in text and "0..500" in text


# ---- the OpenAPI description refuses what JSON Schema can state ---------------------------------------------------
SCHEMA_CANNOT_STATE = {"count-mismatch", "lesion-too-big", "site-size-too-big", "disappeared-more-than-count",
                       "cr-but-lesions-left", "all-gone-not-cr", "cr-course-vs-site", "zone-contradiction",
                       "bilateral-false", "bilateral-true", "bilobar-false"}


def test_patient_json_schema_states_the_lesion_rules_it_can() -> None:
    """Each refusal above is in the Patient's JSON Schema unless JSON Schema cannot state it (a number compared with
    a list's length or another number, sizes in two units, the latest course); those are the ones the schemathesis
    hook lets through (with a single lesion's zone against the site's and the sides against bilateral/bilobar,
    which the generator cannot draw with beside the primary's rules), and
    the boundaries stay schema-valid."""
    import json

    import jsonschema_rs

    from mcrc.patient import Patient
    from tests.schemathesis_hooks import DATE_RULES

    validator = jsonschema_rs.validator_for(Patient.model_json_schema())
    for case in test_bad_values_refused.pytestmark[0].args[1]:
        p = case.values[0]
        if case.id in SCHEMA_CANNOT_STATE:
            assert validator.is_valid(json.loads(json.dumps(p))), case.id
            assert all(DATE_RULES.search(message) for _, message in _problems(p)), case.id
        else:
            assert not validator.is_valid(json.loads(json.dumps(p))), case.id
    for case in test_boundaries_accepted.pytestmark[0].args[1]:
        assert validator.is_valid(json.loads(json.dumps(case.values[0]))), case.id
