"""Issue 19 item 3 (decision record 0035): the new primary and context inputs at their boundaries and with bad
values, in the Patient JSON, the web form, the FHIR reader and the cohort schema."""

from __future__ import annotations

import polars as pl
import pytest

import mcrc
from mcrc.cohort.schema import BY_NAME, CohortError, validate
from mcrc.errors import InputError
from mcrc.facts.catalog import FACTS
from mcrc.knowledge.definitions import load_definitions
from mcrc.patient import RECTAL_MIDDLE_LOWER_MAX_CM, parse_patient
from mcrc.web.form import SPEC, form_to_draft


def facts(data: dict):
    return mcrc.derive_facts(parse_patient(data))


def problems(data: dict) -> list[tuple[str, str, str | None]]:
    with pytest.raises(InputError) as exc:
        parse_patient(data)
    return [(p.where, p.message, p.allowed) for p in exc.value.problems]


# --- colon side without segment ------------------------------------------------------------------------------
@pytest.mark.parametrize(("location", "side"), [("right_colon", "right"), ("left_colon", "left"),
                                                ("transverse_colon", "right")])
def test_colon_side_without_segment(location: str, side: str) -> None:
    f = facts({"primary": {"location": location}})
    assert (f.get("primary_site"), f.get("sidedness"), f.get("primary_location")) == ("colon", side, location)


def test_bad_location_lists_the_new_values() -> None:
    [(where, message, allowed)] = problems({"primary": {"location": "right colon"}})
    assert where == "primary.location" and "not an allowed value" in message
    assert "right_colon" in allowed and "left_colon" in allowed


def test_the_definition_lists_every_location_on_one_side() -> None:
    side = load_definitions().params("sidedness")
    locations = set(FACTS["primary_location"].values)
    assert set(side["right"]) | set(side["left"]) == locations
    assert not set(side["right"]) & set(side["left"])


# --- rectal third --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("third", "height"), [("upper", "upper"), ("middle", "middle_lower"),
                                               ("lower", "middle_lower")])
def test_rectal_third_without_distance_sets_the_height(third: str, height: str) -> None:
    f = facts({"primary": {"location": "rectum", "rectal_third": third}})
    assert (f.get("rectal_third"), f.get("rectal_height"), f.get("rectal_distance_cm")) == (third, height, None)


@pytest.mark.parametrize(("third", "distance", "ok"), [
    ("upper", 10.1, True), ("upper", 10, False), ("upper", 4, False), ("upper", 15, True),
    ("middle", 10, True), ("middle", 10.1, False), ("lower", 0, True), ("lower", 12, False),
    ("lower", 8, True),  # the 5 cm middle/lower line is no cut-off of the definition (decision 0035)
])
def test_rectal_third_and_distance_must_agree_at_10_cm(third: str, distance: float, ok: bool) -> None:
    data = {"primary": {"location": "rectum", "rectal_third": third, "distance_from_anal_verge_cm": distance}}
    if ok:
        f = facts(data)
        assert f.get("rectal_height") == ("upper" if third == "upper" else "middle_lower")
        return
    [(where, message, _)] = problems(data)
    assert where == "primary"
    assert "rectal_third" in message and "distance_from_anal_verge_cm" in message and "10 cm" in message


@pytest.mark.parametrize("location", [None, "sigmoid_colon", "right_colon", "rectosigmoid"])
def test_rectal_third_only_for_a_rectal_primary(location: str | None) -> None:
    primary = {"rectal_third": "middle"} | ({"location": location} if location else {})
    [(where, message, _)] = problems({"primary": primary})
    assert where == "primary" and "rectal_third applies only to a rectal primary" in message
    assert (location or "not recorded") in message


@pytest.mark.parametrize("bad", ["mid", "Middle", 2, True])
def test_rectal_third_bad_values(bad) -> None:
    [(where, _message, _)] = problems({"primary": {"location": "rectum", "rectal_third": bad}})
    assert where == "primary.rectal_third"


def test_validation_cut_off_is_the_definitions() -> None:
    assert load_definitions().params("rectal_height")["middle_lower_max_cm"] == RECTAL_MIDDLE_LOWER_MAX_CM


# --- pathological TNM ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("primary", "pt", "pn", "after", "advanced"), [
    ({"pt": "T3"}, "T3", None, False, True),
    ({"pt": "T2"}, "T2", None, False, None),
    ({"pt": "T2", "pn": "N0"}, "T2", "N0", False, False),
    ({"pt": "T4b", "pn": "N0"}, "T4", "N0", False, True),
    ({"pt": "Tis", "pn": "N1c"}, "Tis", "N1", False, True),
    ({"ypt": "T0", "ypn": "N0"}, "T0", "N0", True, False),
    ({"ypn": "N2b"}, None, "N2", True, True),
    ({}, None, None, None, None),
])
def test_pathological_stage_facts(primary, pt, pn, after, advanced) -> None:
    f = facts({"primary": {"location": "sigmoid_colon", "status": "resected", **primary}})
    assert (f.get("pt"), f.get("pn"), f.get("pathological_after_neoadjuvant"), f.get("pathological_advanced")) == (
        pt, pn, after, advanced)


def test_primary_in_place_has_no_pathological_stage() -> None:
    f = facts({"primary": {"location": "sigmoid_colon", "status": "in_place", "ct": "T4"}})
    assert f.get("pathological_advanced") is False and f.get("locally_advanced") is True
    [(where, message, _)] = problems({"primary": {"status": "in_place", "pt": "T3", "pn": "N1"}})
    assert where == "primary" and "pt, pn given but status is 'in_place'" in message


def test_p_and_yp_on_one_primary_are_refused_naming_both() -> None:
    [(where, message, _)] = problems({"primary": {"status": "resected", "pt": "T3", "ypn": "N0"}})
    assert where == "primary" and "pt and ypn are both given" in message


@pytest.mark.parametrize(("field", "bad"), [("pt", "T0"), ("pt", "pT3"), ("pn", "N3"), ("ypt", "T5"),
                                           ("ypn", "Nx"), ("pt", 3)])
def test_pathological_bad_values(field: str, bad) -> None:
    [(where, _message, _)] = problems({"primary": {"status": "resected", field: bad}})
    assert where == f"primary.{field}"


def test_pt0_is_only_after_neoadjuvant_therapy() -> None:
    assert facts({"primary": {"status": "resected", "ypt": "T0"}}).get("pt") == "T0"
    [(_, _, allowed)] = problems({"primary": {"status": "resected", "pt": "T0"}})
    assert "T0" not in allowed.split(", ")


# --- hereditary syndrome and second primary ------------------------------------------------------------------
@pytest.mark.parametrize("value", ["lynch", "other", "none"])
def test_hereditary_syndrome_never_sets_mmr(value: str) -> None:
    f = facts({"hereditary_syndrome": value, "biomarkers": {"kras": "mutant"}})
    assert f.get("hereditary_syndrome") == value and f.get("mmr_status") is None


def test_lynch_beside_a_tumour_result_keeps_the_result() -> None:
    f = facts({"hereditary_syndrome": "lynch", "biomarkers": {"mmr": "proficient"}})
    assert f.get("mmr_status") == "pmmr_mss"


@pytest.mark.parametrize(("field", "bad"), [("hereditary_syndrome", "Lynch"), ("hereditary_syndrome", True),
                                           ("hereditary_syndrome", "hnpcc"), ("second_primary_cancer", "yes"),
                                           ("second_primary_cancer", True), ("second_primary_cancer", "past")])
def test_context_bad_values(field: str, bad) -> None:
    [(where, message, allowed)] = problems({field: bad})
    assert where == field
    assert allowed or "expected" in message


def test_absent_context_is_unknown() -> None:
    f = facts({})
    assert f.get("hereditary_syndrome") is None and f.get("second_primary_cancer") is None


# --- the same inputs in the web form -------------------------------------------------------------------------
def _spec_paths(specs) -> set[str]:
    out: set[str] = set()
    for s in specs:
        out.add(s.path)
        out |= _spec_paths(s.children)
    return out


def test_the_form_offers_every_new_input() -> None:
    paths = _spec_paths(SPEC)
    for path in ("primary.rectal_third", "primary.pt", "primary.pn", "primary.ypt", "primary.ypn",
                 "hereditary_syndrome", "second_primary_cancer"):
        assert path in paths, path
    draft = form_to_draft({"primary.location": "rectum", "primary.rectal_third": "middle", "primary.status": "resected",
                           "primary.ypt": "T0", "primary.ypn": "N0", "hereditary_syndrome": "lynch",
                           "second_primary_cancer": "active", "primary.pt": ""})
    assert draft["primary"] == {"location": "rectum", "rectal_third": "middle", "status": "resected", "ypt": "T0",
                                "ypn": "N0"}
    f = facts(draft)
    assert (f.get("rectal_height"), f.get("pt"), f.get("second_primary_cancer")) == ("middle_lower", "T0", "active")


# --- the cohort schema ---------------------------------------------------------------------------------------
NEW_FACTS = ("rectal_third", "pt", "pn", "pathological_after_neoadjuvant", "pathological_advanced",
             "hereditary_syndrome", "second_primary_cancer")


def test_new_facts_are_cohort_columns_like_every_fact() -> None:
    for name in NEW_FACTS:
        assert BY_NAME[name].required and BY_NAME[name].values == FACTS[name].values
    assert "right_colon" in BY_NAME["primary_location"].values


def test_a_cohort_value_outside_a_new_domain_is_named() -> None:
    base = {c: [None] for c, col in BY_NAME.items() if col.required and col.type == "string"}
    base["decision_id"] = ["d1"]
    base["rectal_third"] = ["mid"]
    base["second_primary_cancer"] = ["yes"]
    with pytest.raises(CohortError) as exc:
        validate(pl.DataFrame(base, schema={c: pl.String for c in base}), "<test>", partial=True)
    named = {p.where: p.message for p in exc.value.problems}
    assert "'mid'" in named["column rectal_third"] and "'yes'" in named["column second_primary_cancer"]


# --- the case store ------------------------------------------------------------------------------------------
def test_the_store_keeps_the_new_inputs_and_reads_old_records(tmp_path) -> None:
    """Schema "2" gains optional fields only: a stored record with them reads back as it was stored, and one
    written before them still parses (absent = unknown)."""
    from mcrc.store.api import Store
    from tests.stores import store_with_clinician

    url = f"sqlite:///{tmp_path / 'store.db'}"
    store_with_clinician(url)
    new = {"schema_version": "2", "primary": {"location": "rectum", "rectal_third": "lower", "status": "resected",
                                              "ypt": "T0", "ypn": "N0"},
           "hereditary_syndrome": "lynch", "second_primary_cancer": "remote"}
    old = {"schema_version": "2", "primary": {"location": "rectum", "distance_from_anal_verge_cm": 6}}
    with Store(url) as s:
        ids = [s.add_case(p, "cli").id for p in (new, old)]
        back = [parse_patient(s.get_case(i, "cli").patient) for i in ids]
    assert back[0].primary.rectal_third == "lower" and back[0].primary.ypt == "T0"
    assert back[0].hereditary_syndrome == "lynch" and back[0].second_primary_cancer == "remote"
    assert back[1].hereditary_syndrome is None and back[1].primary.rectal_third is None


# --- the published JSON Schema refuses what the validators refuse --------------------------------------------
@pytest.mark.parametrize("primary", [
    {"rectal_third": "upper"}, {"location": "rectum", "rectal_third": "upper"},
    {"location": "sigmoid_colon", "rectal_third": "lower"},
    {"location": "rectum", "rectal_third": "upper", "distance_from_anal_verge_cm": 10},
    {"location": "rectum", "rectal_third": "upper", "distance_from_anal_verge_cm": 10.5},
    {"location": "rectum", "rectal_third": "middle", "distance_from_anal_verge_cm": 10},
    {"location": "rectum", "rectal_third": "lower", "distance_from_anal_verge_cm": 11},
    {"pt": "T3", "pn": "N0"}, {"pt": "T3", "ypn": "N0"}, {"ypt": "T0", "ypn": "N0"},
    {"status": "in_place", "pt": "T3"}, {"status": "resected", "pt": "T3"}, {"location": "right_colon"},
])
def test_json_schema_agrees_with_validation(primary: dict) -> None:
    import jsonschema_rs

    from mcrc.patient import Patient

    schema_ok = jsonschema_rs.validator_for(Patient.model_json_schema()).is_valid({"primary": primary})
    try:
        parse_patient({"primary": primary})
        model_ok = True
    except InputError:
        model_ok = False
    assert schema_ok == model_ok
