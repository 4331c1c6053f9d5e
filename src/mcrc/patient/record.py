"""The Patient root: the whole record, its context (fitness, preferences, symptoms), responses against history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mcrc.patient.base import PastDate, Text, _Model, _not_in_future, _null, _rules, _when, _whole_number
from mcrc.patient.biomarkers import Biomarkers
from mcrc.patient.primary import Primary
from mcrc.patient.sites import Lesion
from mcrc.patient.treatment import TreatmentHistory
from mcrc.patient.upgrade import is_v1, upgrade_v1

SCHEMA_VERSION = "2"  # 2: treatment history as oncologists record it (decision record 0026); "1" is upgraded
Region = Literal["japan", "korea", "china", "other_asia", "europe", "north_america", "other"]


class Fitness(_Model):
    fit_for_surgery: bool | None = None
    fit_for_intensive_therapy: bool | None = Field(
        default=None, description="Fit for intensive chemotherapy (combinations with oxaliplatin or irinotecan; "
                                   "false: a fluoropyrimidine alone or with bevacizumab), in the MDT's judgement"
    )
    adequate_organ_function: bool | None = Field(
        default=None, description="Liver, kidney and marrow function adequate for further systemic therapy"
    )


class Preferences(_Model):
    declines_surgery: bool | None = Field(default=None, description="Declines surgery (of the metastases)")
    wishes_organ_preservation: bool | None = Field(
        default=None, description="Strongly wants the rectum preserved and refuses rectal resection"
    )


class Symptoms(_Model):
    bone_pain: bool | None = None


class Patient(_Model):
    """A patient with colorectal cancer, as the MDT knows them today."""

    model_config = _rules(
        _when("ned", [False], _null("ned_date")),
        # responses against the history (decision record 0036; the latest course's response stays a validator)
        {"if": {"properties": {"treatment_history": {"properties": {"courses": {"type": "array", "maxItems": 0}},
                                                     "required": ["courses"]}}, "required": ["treatment_history"]},
         "then": {"properties": {"metastases": {"items": {"properties": {
             "disappeared_count": {"anyOf": [{"type": "null"}, {"maximum": 0}]}}}}}}},
        {"if": {"properties": {"treatment_history": {
            "properties": {"courses": {"type": "array", "maxItems": 0},
                           "radiotherapy": {"type": "array", "maxItems": 0}},
            "required": ["courses", "radiotherapy"]}}, "required": ["treatment_history"]},
         "then": {"properties": {"metastases": {"items": {"properties": {
             "complete_response": {"enum": [False, None]}}}}}}},
    )

    schema_version: Literal["1", "2"] = Field(
        default=SCHEMA_VERSION, description='"2"; a "1" document (courses with `setting` and `outcome`) is read '
                                            'through `upgrade_v1` and stored as "2"')
    id: Text | None = Field(default=None, min_length=1, max_length=64)
    age: int | None = Field(default=None, ge=18, le=110)
    sex: Literal["female", "male"] | None = None
    ecog: int | None = Field(default=None, ge=0, le=4, description="ECOG performance status 0-4")
    primary: Primary | None = None
    metastases: list[Lesion] | None = Field(
        default=None,
        description="Metastatic sites as they stand (current disease unless `ned` is true, when they are the "
                    "lesions that were treated); absent = not recorded, [] = none found",
    )
    biomarkers: Biomarkers | None = None
    cea_ng_ml: float | None = Field(default=None, ge=0, le=100000)
    tumour_burden: Literal["low", "high"] | None = Field(default=None, description="The MDT's judgement")
    region: Region | None = Field(default=None, description="Where the patient is treated (drug availability)")
    treatment_history: TreatmentHistory | None = None
    fitness: Fitness | None = None
    preferences: Preferences | None = None
    symptoms: Symptoms | None = None
    ned: bool | None = Field(
        default=None,
        description="No evidence of disease after local treatment. When absent, recorded metastases are current "
                    "disease (not NED)",
    )
    ned_date: PastDate | None = Field(default=None, description="Date no evidence of disease was reached")
    # --- patient context of decision record 0035 ----------------------------------------------------------------
    hereditary_syndrome: Literal["lynch", "other", "none"] | None = Field(
        default=None, description="A known hereditary cancer syndrome: 'lynch' (Lynch syndrome), 'other' (another "
                                  "named syndrome), 'none' (none known). Never stands in for the tumour's own "
                                  "MMR/MSI result")
    second_primary_cancer: Literal["active", "recent", "remote", "none"] | None = Field(
        default=None, description="Another primary cancer besides the colorectal one: 'active' (present or under "
                                  "treatment), 'recent' (treated, but recent enough to bear on prognosis or "
                                  "treatment in the MDT's judgement), 'remote' (long cured, no bearing), 'none'. "
                                  "The sources do not cover active or recent ones: the answer then refers to the MDT")

    _dates = field_validator("ned_date")(_not_in_future)
    _whole = field_validator("age", "ecog", mode="before")(_whole_number)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        return upgrade_v1(data) if isinstance(data, dict) and is_v1(data) else data

    @model_validator(mode="after")
    def _ned(self) -> Patient:
        if self.ned is False and self.ned_date is not None:
            raise ValueError("ned_date is given but ned is false")
        return self

    @model_validator(mode="after")
    def _responses(self) -> Patient:
        """Disappeared lesions and complete responses against the treatment history (decision record 0036)."""
        problems = response_history_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


_METASTATIC_INTENTS = ("perioperative", "conversion", "palliative", "maintenance")


def response_history_problems(p: Patient) -> list[str]:
    """A site's response that the treatment history contradicts: lesions that disappeared during chemotherapy when
    no systemic therapy was given; a complete response when neither systemic therapy nor radiotherapy was given;
    a site not in complete response when the latest course for metastatic disease had a complete response."""
    out: list[str] = []
    hist = p.treatment_history
    courses = hist.courses if hist else None
    radiotherapy = hist.radiotherapy if hist else None
    metastatic = [c for c in courses or () if c.intent in _METASTATIC_INTENTS]
    latest = metastatic[-1] if metastatic else None
    for i, site in enumerate(p.metastases or ()):
        where = f"metastases[{i}]"
        if site.disappeared_count and courses == []:
            out.append(f"{where}.disappeared_count is {site.disappeared_count} (lesions that disappeared during "
                       "chemotherapy) but treatment_history.courses is empty (no systemic therapy given)")
        if site.complete_response is True and courses == [] and radiotherapy == []:
            out.append(f"{where}.complete_response is true but treatment_history records neither systemic therapy "
                       "(courses) nor radiotherapy")
        if site.complete_response is False and latest is not None and latest.best_response == "complete":
            out.append(f"{where}.complete_response is false but the latest course for metastatic disease "
                       f"(treatment_history.courses[{courses.index(latest)}]) has best_response 'complete'")
    return out
