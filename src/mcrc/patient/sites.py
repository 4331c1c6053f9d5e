"""Metastatic sites: a site's organ, count, size and organ-specific findings, and its lesions listed one by one."""

from __future__ import annotations

import typing
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from mcrc.patient.base import (
    PastDate,
    Resectability,
    _Model,
    _not_in_future,
    _null,
    _rules,
    _when,
    _whole_number,
)

Organ = Literal[
    "lung", "liver", "peritoneum", "distant_lymph_nodes", "pelvic_implant", "ovary", "bone", "brain",
    "adrenal", "other",
]
LUNG_ONLY_FIELDS = ("zone", "hilar_mediastinal_nodes", "lymphangitic")
LIVER_ONLY_FIELDS = ("multifocal_stage", "major_resection_needed", "small_and_accessible")
PERITONEUM_ONLY_FIELDS = ("pci", "p_category")


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
