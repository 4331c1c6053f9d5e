"""The tumour's molecular results: RAS, BRAF, MMR/MSI, HER2, fusions and circulating tumour DNA."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mcrc.patient.base import PastDate, _Model, _not_in_future, _rules, _when


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
