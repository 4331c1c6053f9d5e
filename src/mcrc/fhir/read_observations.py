"""Observations and genomics: ECOG, CEA, KRAS/NRAS/BRAF/ERBB2 variants, MSI and mismatch repair, and the dispatch
of every Observation by its code."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from mcrc.fhir import read_mcrc
from mcrc.fhir.read_common import LOINC, ReaderState, _code_in, _codings, _date, _texts
from mcrc.fhir.read_conditions import LOINC_CN, LOINC_CT, LOINC_DISEASE_STATUS, LOINC_OTHER_TNM, LOINC_PN, LOINC_PT

LOINC_ECOG = "89247-1"
ECOG_ANSWERS = {"LA9622-7": 0, "LA9623-5": 1, "LA9624-3": 2, "LA9625-0": 3, "LA9626-8": 4}
LOINC_CEA = "2039-6"
LOINC_VARIANT = "69548-6"       # Genetic variant assessment
LOINC_GENE_STUDIED = "48018-6"
LOINC_AA_CHANGE = "48005-3"     # Amino acid change (pHGVS)
LOINC_VARIANT_HGVS = "81252-9"  # Discrete genetic variant
LOINC_DNA_CHANGE_TYPE = "48019-4"
PRESENT, ABSENT = "LA9633-4", "LA9634-2"
LOINC_MSI = "81695-9"
MSI_ANSWERS = {"LA26203-2": "msi_high", "LA26202-4": "msi_low", "LA14122-8": "stable"}
GENES = {"HGNC:6407": "KRAS", "HGNC:7989": "NRAS", "HGNC:1097": "BRAF", "HGNC:3430": "ERBB2"}
GENE_SYMBOLS = {"KRAS": "KRAS", "NRAS": "NRAS", "BRAF": "BRAF", "ERBB2": "ERBB2", "HER2": "ERBB2"}

_AA = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G", "His": "H",
       "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W",
       "Tyr": "Y", "Val": "V"}


def _one_letter(aa: str) -> str:
    return _AA.get(aa, aa)


class ObservationsReader(ReaderState):
    """Reads Observations: performance status, tumour markers and biomarkers; staging goes to ConditionsReader."""

    def observation(self, res: Any) -> None:
        if res.status in ("entered-in-error", "cancelled"):
            self.skip(res, f"status '{res.status}'")
            return
        if read_mcrc.project_codes(res.code):
            read_mcrc.observation(self, res)
            return
        loinc = set(_code_in(res.code, LOINC))
        when = _date(res.effectiveDateTime) or (_date(res.effectivePeriod.start) if res.effectivePeriod else None)
        if LOINC_ECOG in loinc:
            self._ecog(res, when)
        elif LOINC_CEA in loinc:
            self._cea(res, when)
        elif loinc & {LOINC_CT, LOINC_CN}:
            self._tnm(res, "ct" if LOINC_CT in loinc else "cn")
        elif loinc & {LOINC_PT, LOINC_PN}:
            self._path_tnm(res, "T" if LOINC_PT in loinc else "N")
        elif loinc & set(LOINC_OTHER_TNM):
            self.skip(res, LOINC_OTHER_TNM[next(iter(loinc & set(LOINC_OTHER_TNM)))])
        elif LOINC_VARIANT in loinc:
            self._variant(res)
        elif LOINC_MSI in loinc:
            self._msi(res)
        elif loinc & LOINC_DISEASE_STATUS:
            self._disease_status(res, when)
        elif any("mismatch repair" in t.lower() for t in _texts(res.code)):
            self._mmr(res)
        else:
            self.skip(res, "observation code not recognised (" + ", ".join(_texts(res.code)[:2] or ["no code"]) + ")")

    def _ecog(self, res: Any, when: dt.date | None) -> None:
        value = res.valueInteger
        # the LOINC answer code: in the value, or (as mCODE's examples put it) in `interpretation`
        for cc in ([res.valueCodeableConcept] if res.valueCodeableConcept else []) + list(res.interpretation or []):
            if value is not None:
                break
            answers = [ECOG_ANSWERS[c] for c in _code_in(cc, LOINC) if c in ECOG_ANSWERS]
            value = answers[0] if answers else None
        if value is None or not 0 <= value <= 4:
            self.skip(res, "ECOG value missing or not 0-4")
            return
        if self.ecog is None or (when and (self.ecog[0] is None or when >= self.ecog[0])):
            self.ecog = (when, value)

    def _cea(self, res: Any, when: dt.date | None) -> None:
        q = res.valueQuantity
        unit = (q.code or q.unit or "").replace("µ", "u").lower() if q else ""
        if q is None or q.value is None or unit not in ("ng/ml", "ug/l"):
            self.skip(res, "CEA without a value in ng/mL (or ug/L)")
            return
        if self.cea is None or (when and (self.cea[0] is None or when >= self.cea[0])):
            self.cea = (when, float(q.value))

    def _gene(self, res: Any) -> str | None:
        for comp in res.component or []:
            if LOINC_GENE_STUDIED in _code_in(comp.code, LOINC) and comp.valueCodeableConcept:
                for c in _codings(comp.valueCodeableConcept):
                    if c.code in GENES:
                        return GENES[c.code]
                    if (c.display or "").upper() in GENE_SYMBOLS:
                        return GENE_SYMBOLS[c.display.upper()]
                if (comp.valueCodeableConcept.text or "").upper() in GENE_SYMBOLS:
                    return GENE_SYMBOLS[comp.valueCodeableConcept.text.upper()]
        return None

    def _aa_change(self, res: Any) -> str | None:
        for comp in res.component or []:
            if set(_code_in(comp.code, LOINC)) & {LOINC_AA_CHANGE, LOINC_VARIANT_HGVS}:
                texts = _texts(comp.valueCodeableConcept) if comp.valueCodeableConcept else []
                if comp.valueString:
                    texts.append(comp.valueString)
                for t in texts:
                    m = re.search(r"p\.\(?([A-Z][a-z]{2}|[A-Z])(\d+)([A-Z][a-z]{2}|[A-Z])\)?", t)
                    if m:
                        return _one_letter(m.group(1)) + m.group(2) + _one_letter(m.group(3))
        return None

    def _variant(self, res: Any) -> None:
        gene = self._gene(res)
        if gene is None:
            self.skip(res, "gene studied is not KRAS, NRAS, BRAF or ERBB2 (or not coded)")
            return
        answer = _code_in(res.valueCodeableConcept, LOINC) if res.valueCodeableConcept else []
        present = PRESENT in answer
        absent = ABSENT in answer
        if not (present or absent):
            self.skip(res, f"{gene} result is neither present (LA9633-4) nor absent (LA9634-2)")
            return
        aa = self._aa_change(res)
        if absent:
            if aa is not None:
                self.skip(res, f"{gene} {aa} absent does not establish a wild-type gene")
                return
            if gene == "ERBB2":
                self.skip(res, "no ERBB2 variant does not establish HER2 status")
                return
            self._set(res, gene.lower(), "wild_type")
            return
        if gene in ("KRAS", "NRAS"):
            self._set(res, gene.lower(), "mutant")
            if gene == "KRAS" and aa:
                self._set(res, "kras_variant", aa if aa in ("G12C", "G12D", "G12V", "G13D") else "other")
        elif gene == "BRAF":
            if aa is None:
                self.skip(res, "BRAF variant present but the amino-acid change is not given (V600E or not?)")
                return
            self._set(res, "braf", "v600e" if aa == "V600E" else "non_v600e")
        else:
            kinds = [t.lower() for c in res.component or [] if LOINC_DNA_CHANGE_TYPE in _code_in(c.code, LOINC)
                     for t in _texts(c.valueCodeableConcept)]
            if any("amplification" in k for k in kinds):
                self._set(res, "her2", "positive")
                self._set(res, "her2_method", "ngs")
            else:
                self.skip(res, "ERBB2 variant present but not an amplification")

    def _set(self, res: Any, key: str, value: Any) -> None:
        self.put(self.bio, key, value, f"{res.__resource_type__}/{res.id}: {key}")

    def _msi(self, res: Any) -> None:
        codes = _code_in(res.valueCodeableConcept, LOINC) if res.valueCodeableConcept else []
        values = [MSI_ANSWERS[c] for c in codes if c in MSI_ANSWERS]
        if not values:
            self.skip(res, "MSI answer code not recognised (LA26203-2, LA26202-4 or LA14122-8)")
            return
        self._set(res, "msi", values[0])

    def _mmr(self, res: Any) -> None:
        texts = [t.lower() for t in _texts(res.valueCodeableConcept)] + ([res.valueString.lower()]
                                                                         if res.valueString else [])
        if any(t in ("deficient", "dmmr", "mmr deficient") for t in texts):
            self._set(res, "mmr", "deficient")
        elif any(t in ("proficient", "pmmr", "mmr proficient") for t in texts):
            self._set(res, "mmr", "proficient")
        else:
            self.skip(res, "mismatch repair result is neither deficient nor proficient")
