"""The Patient: the nested record a clinician fills in. Validation happens here, once.

Every field may be absent, and absent means *unknown*; an explicitly empty list means *none*
(e.g. `"courses": []` says no systemic therapy was given). Impossible values are rejected with
the path of the offending field; missing values never are.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mcrc import strictjson
from mcrc.errors import InputError, Problem
from mcrc.vocabulary import load_vocabulary

SCHEMA_VERSION = "2"  # 2: treatment history as oncologists record it (decision record 0026); "1" is upgraded

Location = Literal[
    "caecum", "ascending_colon", "hepatic_flexure", "transverse_colon", "splenic_flexure",
    "descending_colon", "sigmoid_colon", "rectosigmoid", "rectum",
    # the side of the colon without its segment ("right colon", "left colon"; decision record 0035)
    "right_colon", "left_colon",
]
Resectability = Literal["resectable", "potentially_resectable", "unresectable"]
Organ = Literal[
    "lung", "liver", "peritoneum", "distant_lymph_nodes", "pelvic_implant", "ovary", "bone", "brain",
    "adrenal", "other",
]
LUNG_ONLY_FIELDS = ("zone", "hilar_mediastinal_nodes", "lymphangitic")
LIVER_ONLY_FIELDS = ("multifocal_stage", "major_resection_needed", "small_and_accessible")
PERITONEUM_ONLY_FIELDS = ("pci", "p_category")
Region = Literal["japan", "korea", "china", "other_asia", "europe", "north_america", "other"]


class _Model(BaseModel):
    # strict: JSON types are taken as they are ("yes" is not a boolean, true is not a number, "0" is not an
    # integer); dates come as ISO strings (see IsoDate), never as numbers. NaN and Infinity are not numbers.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, strict=True,
                              allow_inf_nan=False)


def _not_in_future(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    if value is None:
        return value
    today = (info.context or {}).get("today") or dt.date.today()
    if value > today:
        raise ValueError(f"date {value.isoformat()} is in the future (today is {today.isoformat()})")
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """A date is an ISO calendar date string (YYYY-MM-DD) or a date; a number is never read as a timestamp."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a calendar date") from None
    shown = f"'{value}'" if isinstance(value, str) else f"{type(value).__name__} {value!r}"[:60]
    raise ValueError(f"expected a date as YYYY-MM-DD text, got {shown}")


def _whole_number(value: Any) -> Any:
    """JSON Schema's `integer` includes 2.0 (a number whose fraction is zero); so does ours. 2.5 stays refused.
    Used as a `mode="before"` field validator on every integer field (kept off the type so that the JSON Schema
    still says minimum/maximum)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value

# Free text: no control characters other than tab, line feed and carriage return (the strict JSON reader refuses
# them too; this keeps Python callers and the OpenAPI description to the same rule).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]


def _regimen_codes() -> list[str]:
    return list(load_vocabulary().codes("regimens"))


PastDate = Annotated[dt.date, BeforeValidator(_iso_date),
                     Field(description="ISO date (YYYY-MM-DD), not in the future")]


def _when(field: str, values: list[Any], then: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema if/then: when `field` is given with one of `values`, the object must also match `then`."""
    return {"if": {"properties": {field: {"enum": values}}, "required": [field]}, "then": then}


def _null(*fields: str) -> dict[str, Any]:
    return {"properties": {f: {"type": "null"} for f in fields}}


def _rules(*rules: dict[str, Any]) -> ConfigDict:
    """The model's cross-field rules, also written into its JSON Schema (so the OpenAPI description refuses
    what the validators refuse, where JSON Schema can say it: dates compared with each other or with today
    cannot be, and stay validators only)."""
    def extra(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).extend(rules)

    return ConfigDict(**_Model.model_config, json_schema_extra=extra)


class Size(_Model):
    """A size with an explicit unit, so 15 (mm) is never read as 15 cm."""

    model_config = _rules(_when("unit", ["cm"], {"properties": {"value": {"maximum": 50}}}))

    value: float = Field(gt=0, le=500, description="Largest diameter; must be positive")
    unit: Literal["mm", "cm"]

    @property
    def mm(self) -> float:
        return self.value * 10 if self.unit == "cm" else self.value

    @model_validator(mode="after")
    def _plausible(self) -> Size:
        if self.mm > 500:
            raise ValueError(f"{self.value} {self.unit} is larger than 50 cm, which is not plausible")
        return self


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


# ---- individual lesions of a site; bilobar and disappearing liver metastases; complete response (issue 19,
# decision record 0036) --------------------------------------------------------------------------------------
LungZone = Literal["outer", "middle", "inner", "perivascular"]
LIVER_LESION_FIELDS = ("bilobar", "disappeared_count")  # liver only, beside LIVER_ONLY_FIELDS
MAX_LISTED_LESIONS = 20
_MM_TOLERANCE = 1e-6


class SingleLesion(_Model):
    """One lesion of a metastatic site, for reports that describe lesions one by one ("one nodule resectable, the
    other central one unsuitable for surgery because of its position")."""

    size: Size | None = Field(default=None, description="Largest diameter of this lesion")
    zone: LungZone | None = Field(
        default=None, description="Lung only: outer/middle/inner third of the lung field, or next to vessels")
    side: Literal["left", "right"] | None = Field(
        default=None, description="Lung: which lung; liver: which lobe (right or left hemiliver)")
    suitable_for_resection: bool | None = Field(
        default=None, description="The MDT's judgement of this lesion alone: false when it cannot be resected, e.g. "
                                  "because of its position (central, next to the hilum or great vessels)")


def _lesions_problems(site: Lesion) -> list[str]:
    """What the listed lesions contradict in their site (each message names both fields)."""
    out: list[str] = []
    listed = site.lesions or []
    if site.organ != "lung":
        zoned = [f"lesions[{i}].zone" for i, x in enumerate(listed) if x.zone is not None]
        if zoned:
            out.append(f"{', '.join(zoned)} apply only to lung lesions (organ is {site.organ})")
    if site.organ not in ("lung", "liver"):
        sided = [f"lesions[{i}].side" for i, x in enumerate(listed) if x.side is not None]
        if sided:
            out.append(f"{', '.join(sided)} apply only to lung (which lung) or liver (which lobe) lesions "
                       f"(organ is {site.organ})")
    if not listed:
        return out
    if site.count is not None and site.count != len(listed):
        out.append(f"count is {site.count} but lesions lists {len(listed)}: the list gives every lesion of the site "
                   "(leave count out, or list them all)")
    if site.zone is not None:
        if len(listed) > 1:
            out.append(f"zone describes a single lung metastasis but lesions lists {len(listed)}: give each "
                       "lesion's zone as lesions[].zone")
        elif listed[0].zone not in (None, site.zone):
            out.append(f"zone is {site.zone} but lesions[0].zone is {listed[0].zone}")
    sizes = [x.size.mm if x.size else None for x in listed]
    if site.largest_size is not None:
        top = site.largest_size.mm
        for i, mm in enumerate(sizes):
            if mm is not None and mm > top + _MM_TOLERANCE:
                out.append(f"lesions[{i}].size ({mm:g} mm) is larger than largest_size ({top:g} mm)")
        if None not in sizes and max(sizes) < top - _MM_TOLERANCE:
            out.append(f"largest_size is {top:g} mm but the largest of the lesions listed measures {max(sizes):g} mm")
    sides = {x.side for x in listed}
    both = {"left", "right"} <= sides
    one_side = None not in sides and len(sides) == 1
    field = "bilateral" if site.organ == "lung" else "bilobar"
    said = site.bilateral if site.organ == "lung" else site.bilobar
    if site.organ in ("lung", "liver") and said is False and both:
        out.append(f"{field} is false but lesions lists lesions on the left and on the right (lesions[].side)")
    if site.organ in ("lung", "liver") and said is True and one_side:
        out.append(f"{field} is true but every lesion listed is on the {sides.pop()} (lesions[].side)")
    return out


def _response_problems(site: Lesion) -> list[str]:
    """Disappeared lesions against the site's count and complete response."""
    out: list[str] = []
    total = site.count if site.count is not None else (len(site.lesions) if site.lesions else None)
    gone = site.disappeared_count
    if gone is None:
        return out
    if total is not None and gone > total:
        out.append(f"disappeared_count ({gone}) is more than the site's lesions (count {total}); count includes "
                   "the lesions that disappeared")
    elif total is not None and site.complete_response is True and gone < total:
        out.append(f"complete_response is true but disappeared_count ({gone}) is less than count ({total})")
    elif total is not None and site.complete_response is False and gone == total:
        out.append(f"complete_response is false but all {total} lesions disappeared (disappeared_count {gone})")
    return out


def _listed(then: dict[str, Any]) -> dict[str, Any]:
    """A rule on the listed lesions (`lesions` as an array; absent or null it holds)."""
    return {"properties": {"lesions": then}}


def _lesion_rules() -> list[dict[str, Any]]:
    """The listed lesions' rules in the JSON Schema (decision record 0036). Comparing count or sizes with the list
    and the response with the count cannot be stated there; a single listed lesion's zone against the site's, and
    the sides against `bilateral`/`bilobar` could (`contains` rules), but with them beside the primary's rules the
    API's test generator can no longer draw patients from the schema, so they stay validators only, as those do
    (tests/schemathesis_hooks.py names them)."""
    organs = typing.get_args(Organ)
    return [
        _when("organ", [o for o in organs if o not in ("lung", "liver")], _listed({"items": _null("side")})),
        {"if": {"properties": {"zone": {"type": "string"}}, "required": ["zone"]}, "then": _listed({"maxItems": 1})},
    ]


def _organ_only(organ: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """Fields of one organ are null elsewhere; so is a listed lesion's zone outside the lung (decision 0036)."""
    then = _null(*fields)
    if organ == "lung":
        then["properties"]["lesions"] = {"items": _null("zone")}
    return _when("organ", [o for o in typing.get_args(Organ) if o != organ], then)


class Lesion(_Model):
    """One metastatic site (or a group of lesions in one organ)."""

    model_config = _rules(*(_organ_only(organ, fields)
                            for organ, fields in (("lung", LUNG_ONLY_FIELDS),
                                                  ("liver", LIVER_ONLY_FIELDS + LIVER_LESION_FIELDS),
                                                  ("peritoneum", PERITONEUM_ONLY_FIELDS))),
                          *_lesion_rules())

    organ: Organ
    count: int | None = Field(default=None, ge=1, le=500)
    largest_size: Size | None = None
    bilateral: bool | None = None
    zone: Literal["outer", "middle", "inner", "perivascular"] | None = Field(
        default=None, description="Lung only: outer/middle/inner third of the lung field, or next to vessels"
    )
    hilar_mediastinal_nodes: bool | None = Field(default=None, description="Lung only: nodes suspected or proven")
    lymphangitic: bool | None = Field(default=None, description="Lung only: lymphangitic carcinomatosis")
    symptomatic: bool | None = None
    nature_indeterminate: bool | None = Field(
        default=None, description="Imaging cannot tell whether these lesions are metastases"
    )
    found: PastDate | None = None
    timing: Literal["synchronous", "metachronous"] | None = Field(
        default=None, description="Overrides the date-based derivation when the team has recorded it"
    )
    resectability: Resectability | None = Field(default=None, description="The MDT's judgement")
    multifocal_stage: Literal["early", "late"] | None = Field(
        default=None, description="Liver only: multifocal liver-dominant disease at an early or a late stage"
    )
    major_resection_needed: bool | None = Field(
        default=None, description="Liver only: removing these lesions needs a major hepatectomy"
    )
    small_and_accessible: bool | None = Field(
        default=None, description="Liver only: small lesions in an easily accessible position"
    )
    pci: int | None = Field(default=None, ge=0, le=39, description="Peritoneum only: Peritoneal Cancer Index 0-39")
    p_category: Literal["P1", "P2", "P3"] | None = Field(
        default=None, description="Peritoneum only: Japanese P category (P1 adjacent, P2 few distant, P3 many distant)"
    )

    # individual lesions, bilobar and disappearing liver metastases, complete response (decision record 0036)
    lesions: list[SingleLesion] | None = Field(
        default=None, min_length=1, max_length=MAX_LISTED_LESIONS,
        description="The site's lesions one by one (size, lung zone, side, suitability for resection); when given "
                    "the list holds every lesion of the site, and count, if given, must match it")
    bilobar: bool | None = Field(default=None, description="Liver only: metastases in both liver lobes")
    disappeared_count: int | None = Field(
        default=None, ge=0, le=500,
        description="Liver only: lesions that disappeared on imaging during chemotherapy (included in count)")
    complete_response: bool | None = Field(
        default=None, description="Every lesion of this site shows a complete response on imaging after treatment")

    _dates = field_validator("found")(_not_in_future)
    _whole = field_validator("count", "pci", "disappeared_count", mode="before")(_whole_number)

    @model_validator(mode="after")
    def _organ_fields(self) -> Lesion:
        for organ, fields in (("lung", LUNG_ONLY_FIELDS), ("liver", LIVER_ONLY_FIELDS),
                              ("liver", LIVER_LESION_FIELDS), ("peritoneum", PERITONEUM_ONLY_FIELDS)):
            if self.organ != organ:
                wrong = [f for f in fields if getattr(self, f) is not None]
                if wrong:
                    raise ValueError(f"{', '.join(wrong)} apply only to {organ} lesions (organ is {self.organ})")
        problems = _lesions_problems(self) + _response_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def lesion_count(self) -> int | None:
        """The site's lesion count: as recorded, else the number of lesions listed one by one (the list is
        complete; decision record 0036)."""
        return self.count if self.count is not None else (len(self.lesions) if self.lesions else None)

    def largest_mm(self) -> float | None:
        """The site's largest lesion (mm): as recorded, else the largest listed lesion when all are measured."""
        if self.largest_size is not None:
            return self.largest_size.mm
        sizes = [x.size.mm if x.size else None for x in self.lesions or ()]
        return max(sizes) if sizes and None not in sizes else None


class Ctdna(_Model):
    """Circulating tumour DNA results (for anti-EGFR rechallenge)."""

    ras: Literal["wild_type", "mutant"] | None = None
    braf: Literal["wild_type", "mutant"] | None = None
    egfr_ectodomain: Literal["wild_type", "mutant"] | None = None
    date: PastDate | None = None

    _dates = field_validator("date")(_not_in_future)


class Biomarkers(_Model):
    model_config = _rules(
        {"if": {"properties": {"kras_variant": {"type": "string"}}, "required": ["kras_variant"]},
         "then": {"properties": {"kras": {"const": "mutant"}}, "required": ["kras"]}},
        _when("her2_ihc_score", ["3+"], {"properties": {"her2": {"enum": ["positive", None]}}}),
    )
    kras: Literal["wild_type", "mutant"] | None = None
    kras_variant: Literal["G12C", "G12D", "G12V", "G13D", "other"] | None = Field(
        default=None, description="The KRAS mutation, when KRAS is mutant"
    )
    nras: Literal["wild_type", "mutant"] | None = None
    braf: Literal["wild_type", "v600e", "non_v600e"] | None = None
    mmr: Literal["deficient", "proficient"] | None = None
    msi: Literal["msi_high", "msi_low", "stable"] | None = None
    her2: Literal["positive", "negative"] | None = None
    her2_method: Literal["ihc", "ish", "ngs"] | None = Field(default=None, description="How HER2 was assessed")
    her2_ihc_score: Literal["0", "1+", "2+", "3+"] | None = None
    ntrk_fusion: bool | None = None
    ret_fusion: bool | None = None
    ctdna: Ctdna | None = None
    specimen: Literal["primary", "metastasis", "liquid_biopsy"] | None = Field(
        default=None, description="Which material the molecular results come from"
    )

    @model_validator(mode="after")
    def _consistent(self) -> Biomarkers:
        if self.kras_variant is not None and self.kras != "mutant":
            raise ValueError(f"kras_variant {self.kras_variant} is given but kras is {self.kras or 'not recorded'}")
        if self.her2_ihc_score == "3+" and self.her2 == "negative":
            raise ValueError("her2_ihc_score 3+ contradicts her2 negative")
        return self


Intent = Literal["adjuvant", "neoadjuvant", "perioperative", "conversion", "palliative", "maintenance"]
BestResponse = Literal["complete", "partial", "response", "stable", "progression", "not_evaluated"]
StopReason = Literal["completed", "progression", "toxicity", "patient_choice", "planned_surgery", "ongoing", "other"]


def _drug_codes() -> list[str]:
    return list(load_vocabulary().codes("drugs"))


DrugCode = Annotated[str, Field(json_schema_extra=lambda schema: schema.update(enum=_drug_codes()))]


class Course(_Model):
    """One course of systemic therapy, as oncologists record it (decision record 0026).

    The drugs are a regimen code, or a list of drug codes, or neither ("chemotherapy, agents not recorded":
    which drug classes were given then stays unknown). `stop_reason` says why it ended; `best_response` is
    the best RECIST response seen on it; `progression_date` is progression or relapse during or after it."""

    model_config = _rules(
        {"not": {"required": ["regimen", "drugs"], "properties": {"regimen": {"type": "string"},
                                                                 "drugs": {"type": "array"}}}},
        _when("stop_reason", ["ongoing"], _null("ended")),
        {"if": {"properties": {"toxicity_drugs": {"type": "array"}}, "required": ["toxicity_drugs"]},
         "then": {"properties": {"stop_reason": {"const": "toxicity"}}, "required": ["stop_reason"]}},
    )

    intent: Intent = Field(description="adjuvant / neoadjuvant: around surgery of the primary; perioperative: "
                                       "around resection or ablation of metastases; conversion: to make "
                                       "unresectable metastases resectable; palliative; maintenance: "
                                       "de-escalated continuation after induction")
    regimen: str | None = Field(default=None, description="A regimen code from `mcrc vocab`",
                                json_schema_extra=lambda schema: schema.update(enum=_regimen_codes()))
    drugs: list[DrugCode] | None = Field(default=None, min_length=1, max_length=8,
                                         json_schema_extra={"uniqueItems": True},
                                         description="Drug codes from `mcrc vocab`, when no regimen code fits")
    line: int | None = Field(default=None, ge=1, le=10, description="Line number as recorded by the team")
    started: PastDate | None = None
    ended: PastDate | None = None
    cycles: int | None = Field(default=None, ge=1, le=200)
    best_response: BestResponse | None = Field(
        default=None, description="Best RECIST response on this course ('response': complete or partial, "
                                  "not stated which)")
    stop_reason: StopReason | None = Field(default=None, description="Why it ended ('ongoing': not ended)")
    toxicity_drugs: list[DrugCode] | None = Field(
        default=None, min_length=1, max_length=8, json_schema_extra={"uniqueItems": True},
        description="With stop_reason 'toxicity': the drugs not tolerated (else which drug was is unknown)")
    progression_date: PastDate | None = Field(
        default=None, description="Date of progression or relapse during or after this course"
    )

    _dates = field_validator("started", "ended", "progression_date")(_not_in_future)
    _whole = field_validator("line", "cycles", mode="before")(_whole_number)

    @field_validator("regimen")
    @classmethod
    def _known_regimen(cls, value: str | None) -> str | None:
        vocab = load_vocabulary()
        if value is not None and not vocab.has("regimens", value):
            raise ValueError(f"unknown regimen code '{value}'; allowed: {', '.join(vocab.codes('regimens'))}")
        return value

    @field_validator("drugs")
    @classmethod
    def _known_drugs(cls, value: list[str] | None) -> list[str] | None:
        vocab = load_vocabulary()
        unknown = [d for d in value or () if not vocab.has("drugs", d)]
        if unknown:
            raise ValueError(f"unknown drug code(s) {', '.join(repr(d) for d in unknown)}; allowed: "
                             f"{', '.join(vocab.codes('drugs'))}")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a drug is listed twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Course:
        if self.regimen is not None and self.drugs is not None:
            raise ValueError("give either a regimen code or a list of drugs, not both")
        if self.started and self.ended and self.ended < self.started:
            raise ValueError(f"ended ({self.ended.isoformat()}) is before started ({self.started.isoformat()})")
        if self.started and self.progression_date and self.progression_date < self.started:
            raise ValueError(f"progression_date ({self.progression_date.isoformat()}) is before started "
                             f"({self.started.isoformat()})")
        if self.stop_reason == "ongoing" and self.ended is not None:
            raise ValueError("stop_reason is 'ongoing' but an end date is given")
        if self.toxicity_drugs is not None:
            if self.stop_reason != "toxicity":
                raise ValueError("toxicity_drugs is given but stop_reason is not 'toxicity'")
            given = self.drug_codes()
            stray = [d for d in self.toxicity_drugs if given is not None and d not in given]
            if stray:
                raise ValueError(f"toxicity_drugs {', '.join(stray)} were not given in this course")
        return self

    def drug_codes(self) -> tuple[str, ...] | None:
        """The drugs given, or None when the agents were not recorded."""
        if self.regimen is not None:
            return tuple(load_vocabulary().terms["regimens"][self.regimen].drugs)
        return tuple(self.drugs) if self.drugs is not None else None


class Radiotherapy(_Model):
    """A course of radiotherapy (pelvic short-course or long-course chemoradiotherapy, SBRT by site...)."""

    kind: Literal["short_course", "long_course_chemoradiotherapy", "sbrt", "conventional", "other"]
    site: Literal["pelvis", "lung", "liver", "bone", "brain", "other"]
    started: PastDate | None = None
    ended: PastDate | None = None

    _dates = field_validator("started", "ended")(_not_in_future)

    @model_validator(mode="after")
    def _order(self) -> Radiotherapy:
        if self.started and self.ended and self.ended < self.started:
            raise ValueError(f"ended ({self.ended.isoformat()}) is before started ({self.started.isoformat()})")
        return self


class Procedure(_Model):
    """A local treatment already done (for prognosis and for what comes next)."""

    kind: Literal[
        "primary_resection", "lung_sublobar_resection", "lung_lobectomy", "lung_ablation",
        "liver_resection", "liver_ablation", "stent", "colostomy", "hai_pump",
        "cytoreduction_hipec", "cytoreduction", "diverting_ostomy", "bypass", "tace", "tare",
    ]
    date: PastDate | None = None
    margin: Literal["R0", "R1", "R2"] | None = None

    _dates = field_validator("date")(_not_in_future)


class TreatmentHistory(_Model):
    """Absent list = not recorded (unknown); [] = none given."""

    courses: list[Course] | None = Field(default=None, max_length=40)
    radiotherapy: list[Radiotherapy] | None = Field(default=None, max_length=20)
    procedures: list[Procedure] | None = Field(default=None, max_length=40)

    @model_validator(mode="after")
    def _one_ongoing_line(self) -> TreatmentHistory:
        ongoing = [i for i, c in enumerate(self.courses or ())
                   if c.intent in ("palliative", "maintenance", "conversion") and c.stop_reason == "ongoing"]
        if len(ongoing) > 1:
            raise ValueError(f"courses {', '.join(f'[{i}]' for i in ongoing)} are all ongoing: one line of therapy "
                             "for metastatic disease runs at a time (end the earlier one)")
        return self


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


# ---- schema 1 -> 2 -----------------------------------------------------------------------------
# Schema 1 recorded a course's `setting` and one `outcome`; schema 2 its `intent`, `best_response` and `stop_reason`
# (and radiotherapy apart from procedures). The mapping keeps what schema 1 said and invents nothing: an outcome
# says either why the course stopped or how it responded, never both (decision record 0026).
_V1_OUTCOME = {"progression": ("stop_reason", "progression"), "completed": ("stop_reason", "completed"),
               "intolerance": ("stop_reason", "toxicity"), "response": ("best_response", "response"),
               "stable": ("best_response", "stable")}
_V1_RADIOTHERAPY = {"pelvic_radiotherapy": ("other", "pelvis"), "lung_sbrt": ("sbrt", "lung")}
_V1_FLUOROPYRIMIDINE_ONLY = {"CAPECITABINE", "FU_LV"}


_V2_COURSE_FIELDS = {"intent", "drugs", "cycles", "best_response", "stop_reason", "toxicity_drugs"}


def is_v1(data: dict[str, Any]) -> bool:
    """A schema-1 document: it says so, or it states no version and uses nothing that only schema 2 has (a
    course's intent, drugs, cycles, best response or stop reason; a radiotherapy list). Read as schema 1, a
    procedure list without pelvic radiotherapy says none was given, as it did when it was written."""
    if "schema_version" in data:  # given: "1" is schema 1; anything else is for validation to judge
        return data["schema_version"] == "1"
    hist = data.get("treatment_history")
    if not isinstance(hist, dict):
        return True
    if "radiotherapy" in hist:
        return False
    courses = hist.get("courses") if isinstance(hist.get("courses"), list) else []
    return not any(isinstance(c, dict) and _V2_COURSE_FIELDS & c.keys() for c in courses)


_V1_SETTINGS = ("adjuvant", "neoadjuvant", "conversion", "palliative")


def v1_problems(data: dict[str, Any]) -> list[Problem]:
    """What schema 1 itself refused in the parts the upgrade rewrites (a course's setting and outcome), named by
    the paths the sender wrote and with schema 1's allowed values."""
    hist = data.get("treatment_history")
    courses = hist.get("courses") if isinstance(hist, dict) else None
    problems = []
    for i, c in enumerate(courses if isinstance(courses, list) else ()):
        if not isinstance(c, dict):
            continue
        where = f"treatment_history.courses[{i}]"
        if "setting" in c and c["setting"] not in _V1_SETTINGS:
            problems.append(Problem(f"{where}.setting", f"{c['setting']!r} is not a schema-1 setting",
                                    ", ".join(_V1_SETTINGS)))
        if c.get("outcome") is not None and c["outcome"] not in _V1_OUTCOME:
            problems.append(Problem(f"{where}.outcome", f"{c['outcome']!r} is not a schema-1 outcome",
                                    ", ".join(_V1_OUTCOME)))
    return problems


def upgrade_v1(data: dict[str, Any], paths: dict[str, str] | None = None) -> dict[str, Any]:
    """A schema-1 patient as schema 2 (a new dict; anything not understood is left for validation to name).

    - `setting` becomes `intent`; a schema-1 "neoadjuvant" course was preoperative therapy of either the primary
      or the metastases: "neoadjuvant" (the primary) when it is a fluoropyrimidine alone and pelvic
      radiotherapy was given (the sensitiser of chemoradiotherapy), else "perioperative" (schema 1's engine
      read it as preoperative therapy of the metastases);
    - `outcome` "progression", "completed", "intolerance" become `stop_reason` progression, completed,
      toxicity; "response" and "stable" become `best_response`;
    - procedures "pelvic_radiotherapy" and "lung_sbrt" become radiotherapy courses (pelvis; SBRT of the lung);
      their other keys go along, so a key schema 1 refused is still refused.

    `paths`, when given, is filled with each rewritten schema-2 path and the schema-1 path it came from, so that
    a problem can be reported where the sender wrote it.
    """
    paths = {} if paths is None else paths
    out = {**data, "schema_version": "2"}
    hist = data.get("treatment_history")
    if not isinstance(hist, dict):
        return out
    hist = dict(hist)
    procedures = hist.get("procedures")
    pelvic_rt = False
    if isinstance(procedures, list):
        kept, radiotherapy = [], list(hist.get("radiotherapy") or [])
        for i, p in enumerate(procedures):
            if isinstance(p, dict) and p.get("kind") in _V1_RADIOTHERAPY:
                kind, site = _V1_RADIOTHERAPY[p["kind"]]
                pelvic_rt |= site == "pelvis"
                rt = {"kind": kind, "site": site, **{k: v for k, v in p.items() if k not in ("kind", "date")}}
                new = f"treatment_history.radiotherapy[{len(radiotherapy)}]"
                paths[new] = f"treatment_history.procedures[{i}]"
                if p.get("date") is not None:
                    rt["started"] = p["date"]
                    paths[f"{new}.started"] = f"treatment_history.procedures[{i}].date"
                radiotherapy.append(rt)
            else:
                if len(kept) != i:
                    paths[f"treatment_history.procedures[{len(kept)}]"] = f"treatment_history.procedures[{i}]"
                kept.append(p)
        hist["procedures"] = kept
        hist["radiotherapy"] = radiotherapy  # schema 1 recorded radiotherapy among the procedures: known
    courses = hist.get("courses")
    if isinstance(courses, list):
        upgraded = []
        for i, c in enumerate(courses):
            if not isinstance(c, dict):
                upgraded.append(c)
                continue
            c = dict(c)
            where = f"treatment_history.courses[{i}]"
            if "setting" in c and "intent" not in c:
                setting = c.pop("setting")
                if setting == "neoadjuvant":
                    primary = pelvic_rt and c.get("regimen") in _V1_FLUOROPYRIMIDINE_ONLY
                    setting = "neoadjuvant" if primary else "perioperative"
                c["intent"] = setting
                paths[f"{where}.intent"] = f"{where}.setting"
            if "outcome" in c:
                outcome = c.pop("outcome")
                if outcome in _V1_OUTCOME:
                    key, value = _V1_OUTCOME[outcome]
                    c.setdefault(key, value)
                    paths[f"{where}.{key}"] = f"{where}.outcome"
                elif outcome is not None:
                    c["outcome"] = outcome  # not a schema-1 value (v1_problems names it first)
            upgraded.append(c)
        hist["courses"] = upgraded
    out["treatment_history"] = hist
    return out


def _sender_path(where: str, paths: dict[str, str]) -> str:
    """The schema-1 path of a problem found in the upgraded document (the longest rewritten prefix)."""
    for new in sorted(paths, key=len, reverse=True):
        if where == new or where.startswith((new + ".", new + "[")):
            return paths[new] + where[len(new):]
    return where


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("function-after", "function-before") or str(item).startswith("function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(patient)"


# Strict types: what each kind of field takes, for the message (no value is converted to fit).
_EXPECTED = {
    "bool_type": "true or false", "int_type": "a whole number", "float_type": "a number",
    "finite_number": "a finite number", "string_type": "text", "list_type": "a list", "model_type": "an object",
    "dict_type": "an object", "int_from_float": "a whole number",
}


def _given(value: Any) -> str:
    """How a refused input is named in a message: its JSON type and, when short, its value."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text '{value[:40]}'" + ("..." if len(value) > 40 else "")
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if value is None:
        return "null"
    return {"dict": "an object", "list": "a list"}.get(type(value).__name__, type(value).__name__)


def _problem(err: dict) -> Problem:
    loc = tuple(p for p in err.get("loc", ())
                if not (isinstance(p, str) and "[" in p and p.startswith(("function", "literal"))))
    where = _format_loc(loc)
    kind = err.get("type", "")
    msg = err.get("msg", "invalid")
    ctx = err.get("ctx") or {}
    allowed = None
    if kind == "literal_error":
        allowed = ctx.get("expected")
        msg = f"'{err.get('input')}' is not an allowed value"
    elif kind == "extra_forbidden":
        msg = "unknown field"
    elif kind.startswith(("greater", "less")):
        msg = f"{msg} (got {err.get('input')})"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == TEXT_PATTERN:
        msg = "contains a control character; only tab, line feed and carriage return are allowed in text"
    elif kind in _EXPECTED:
        msg = f"expected {_EXPECTED[kind]}, got {_given(err.get('input'))}"
    elif kind == "value_error":
        msg = str(ctx.get("error", msg))
    return Problem(where=where, message=msg.removeprefix("Value error, "), allowed=allowed)


def parse_patient(data: Any, today: dt.date | None = None) -> Patient:
    """Validate a decoded JSON object into a Patient or raise InputError listing every problem."""
    if not isinstance(data, dict):
        raise InputError([Problem("(patient)", f"expected a JSON object, got {type(data).__name__}")])
    paths: dict[str, str] = {}
    early: list[Problem] = []
    if is_v1(data):  # upgraded here (not only by the model) so that problems name the paths the sender wrote
        early = v1_problems(data)
        data = upgrade_v1(data, paths)
    try:
        patient = Patient.model_validate(data, context={"today": today or dt.date.today()})
    except ValidationError as exc:
        named = {p.where for p in early}
        problems = [Problem(_sender_path(p.where, paths), p.message, p.allowed)
                    for p in map(_problem, exc.errors())]
        raise InputError(early + [p for p in problems if p.where not in named]) from None
    if early:
        raise InputError(early)
    return patient


def parse_patient_json(text: str | bytes, today: dt.date | None = None) -> Patient:
    """Parse JSON text into a Patient with the strict reader (`mcrc.strictjson`): JSON it refuses is a
    JsonInputError naming line and column or field path."""
    return parse_patient(strictjson.loads(text), today=today)
