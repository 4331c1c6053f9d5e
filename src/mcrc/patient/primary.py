"""The primary tumour: its location (rectal third and distance), clinical and pathological TNM, status and dates."""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import Field, field_validator, model_validator

from mcrc.patient.base import PastDate, Resectability, _Model, _not_in_future, _null, _rules, _when

Location = Literal[
    "caecum", "ascending_colon", "hepatic_flexure", "transverse_colon", "splenic_flexure",
    "descending_colon", "sigmoid_colon", "rectosigmoid", "rectum",
    # the side of the colon without its segment ("right colon", "left colon"; decision record 0035)
    "right_colon", "left_colon",
]


# --- primary tumour inputs of decision record 0035 (rectal third, pathological TNM) ----------------------------
RectalThird = Literal["upper", "middle", "lower"]
T_CATEGORIES = ("T1", "T2", "T3", "T4", "T4a", "T4b")
N_CATEGORIES = ("N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b")
PathT = Literal["Tis", "T1", "T2", "T3", "T4", "T4a", "T4b"]
YpT = Literal["T0", "Tis", "T1", "T2", "T3", "T4", "T4a", "T4b"]
PathN = Literal["N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"]
PATHOLOGICAL_FIELDS = ("pt", "pn", "ypt", "ypn")
# The rectal_height definition's one cut-off (definitions.yaml rectal_height, ccs-lung-2019): middle and lower
# rectum lie at most this far from the anal margin, upper rectum beyond it. Kept equal to the definition's
# parameter (a test checks it), because validation cannot read the knowledge base.
RECTAL_MIDDLE_LOWER_MAX_CM = 10


def _rectal_third_problem(third: str | None, distance: float | None) -> str | None:
    """Why a rectal third and a distance from the anal verge disagree (None when they agree or one is absent)."""
    if third is None or distance is None:
        return None
    limit = RECTAL_MIDDLE_LOWER_MAX_CM
    if third == "upper" and distance <= limit:
        return (f"rectal_third 'upper' contradicts distance_from_anal_verge_cm {distance:g}: the upper rectum is "
                f"more than {limit} cm from the anal verge")
    if third in ("middle", "lower") and distance > limit:
        return (f"rectal_third '{third}' contradicts distance_from_anal_verge_cm {distance:g}: the middle and "
                f"lower rectum are at most {limit} cm from the anal verge")
    return None


class Primary(_Model):
    model_config = _rules(
        _when("location", [x for x in typing.get_args(Location) if x != "rectum"],
              _null("distance_from_anal_verge_cm", "rectal_third")),
        _when("status", ["in_place"], _null(*PATHOLOGICAL_FIELDS)),
        {"if": {"properties": {"rectal_third": {"type": "string"}}, "required": ["rectal_third"]},
         "then": {"properties": {"location": {"const": "rectum"}}, "required": ["location"]}},
        _when("rectal_third", ["upper"], {"properties": {"distance_from_anal_verge_cm": {
            "anyOf": [{"type": "null"}, {"exclusiveMinimum": RECTAL_MIDDLE_LOWER_MAX_CM}]}}}),
        _when("rectal_third", ["middle", "lower"], {"properties": {"distance_from_anal_verge_cm": {
            "anyOf": [{"type": "null"}, {"maximum": RECTAL_MIDDLE_LOWER_MAX_CM}]}}}),
        {"not": {"anyOf": [{"required": [a, b], "properties": {a: {"type": "string"}, b: {"type": "string"}}}
                           for a in ("pt", "pn") for b in ("ypt", "ypn")]}},
        _when("status", ["resected"], {"properties": {"emergency": {"enum": ["none", None]}}}),
        _when("status", ["in_place"], _null("resected_on")),
    )
    location: Location | None = None
    distance_from_anal_verge_cm: float | None = Field(
        default=None, ge=0, le=30, description="Rectum only: distance from the anal verge/margin in cm (0-30)"
    )
    rectal_third: RectalThird | None = Field(
        default=None, description="Rectum only: upper, middle or lower third, as a report states it without (or "
                                  "beside) a distance; with a distance, both must agree (middle and lower: at most "
                                  "10 cm from the anal verge, upper: beyond 10 cm)")
    ct: Literal["T1", "T2", "T3", "T4", "T4a", "T4b"] | None = Field(
        default=None, description="Clinical T category (staging before treatment)")
    cn: Literal["N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"] | None = Field(
        default=None, description="Clinical N category (staging before treatment)")
    pt: PathT | None = Field(default=None, description="Pathological T category of the resected primary "
                                                       "(surgery first, no treatment before it)")
    pn: PathN | None = Field(default=None, description="Pathological N category of the resected primary "
                                                       "(surgery first, no treatment before it)")
    ypt: YpT | None = Field(default=None, description="Pathological T category after neoadjuvant therapy (ypT; "
                                                      "T0: no tumour left)")
    ypn: PathN | None = Field(default=None, description="Pathological N category after neoadjuvant therapy (ypN)")
    diagnosed: PastDate | None = None
    status: Literal["in_place", "resected", "local_recurrence"] | None = None
    resected_on: PastDate | None = None
    resectability: Resectability | None = Field(
        default=None, description="MDT judgement of the primary tumour or local recurrence"
    )
    emergency: Literal["bleeding", "obstruction", "impending_obstruction", "perforation", "none"] | None = None

    _dates = field_validator("diagnosed", "resected_on")(_not_in_future)

    @model_validator(mode="after")
    def _consistent(self) -> Primary:
        if self.distance_from_anal_verge_cm is not None and self.location not in (None, "rectum"):
            raise ValueError("distance_from_anal_verge_cm applies only to a rectal primary "
                             f"(location is {self.location})")
        if self.rectal_third is not None and self.location != "rectum":
            raise ValueError("rectal_third applies only to a rectal primary (location is "
                             f"{self.location or 'not recorded'}; give location 'rectum')")
        if problem := _rectal_third_problem(self.rectal_third, self.distance_from_anal_verge_cm):
            raise ValueError(problem)
        pathological = [f for f in PATHOLOGICAL_FIELDS if getattr(self, f) is not None]
        if pathological and self.status == "in_place":
            raise ValueError(f"{', '.join(pathological)} given but status is 'in_place': a pathological stage "
                             "comes from the resected primary (record status 'resected')")
        after = [f for f in ("ypt", "ypn") if getattr(self, f) is not None]
        before = [f for f in ("pt", "pn") if getattr(self, f) is not None]
        if after and before:
            raise ValueError(f"{', '.join(before)} and {', '.join(after)} are both given: one resection specimen is "
                             "staged either without (pT/pN) or after (ypT/ypN) neoadjuvant therapy")
        if self.status == "resected" and self.emergency not in (None, "none"):
            raise ValueError("a resected primary cannot have an emergency complication; "
                             "record status 'local_recurrence' if the recurrence is bleeding or obstructing")
        if self.resected_on is not None and self.status == "in_place":
            raise ValueError("resected_on is given but status is 'in_place'")
        if self.resected_on and self.diagnosed and self.resected_on < self.diagnosed:
            raise ValueError("resected_on is before the date of diagnosis")
        return self
