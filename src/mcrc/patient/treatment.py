"""The treatment history: courses of systemic therapy, radiotherapy and local procedures already done."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mcrc.patient.base import PastDate, _Model, _not_in_future, _null, _rules, _when, _whole_number
from mcrc.vocabulary import load_vocabulary


def _regimen_codes() -> list[str]:
    return list(load_vocabulary().codes("regimens"))


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
