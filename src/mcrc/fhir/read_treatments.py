"""Medications and procedures: operations, radiotherapy and drug courses (recognised by RxNorm code or by name), and
whether the primary was resected."""

from __future__ import annotations

import re
from typing import Any

from mcrc.fhir import read_history
from mcrc.fhir.read_common import CONFLICT, MCODE, RXNORM, SNOMED, ReaderState, _code_in, _date, _texts
from mcrc.fhir.read_mcrc import VALUE_CS
from mcrc.vocabulary import load_vocabulary

# SNOMED CT intent qualifiers -> Course.intent. mCODE STU4 names the extension `mcode-procedure-intent`
# (its value set has palliative but leaves adjuvant/neoadjuvant out as timing, not intent); older mCODE
# releases called it `mcode-treatment-intent`. Both URLs are read; see docs/fhir-codes.md.
INTENT_EXTS = (MCODE + "mcode-procedure-intent", MCODE + "mcode-treatment-intent")
INTENT_EXT = INTENT_EXTS[0]
# SNOMED's neoadjuvant (preoperative) qualifier does not say whether the primary or the metastases are operated on;
# as with schema-1 documents (mcrc.patient.upgrade_v1), it is read as perioperative therapy of the metastases.
INTENTS = {"363676003": "palliative", "373846009": "adjuvant", "373847000": "perioperative"}
# RxNorm ingredient concepts (RXCUI); each checked against a published list (docs/fhir-codes.md). Drugs
# without a checked code are still recognised by name (the vocabulary's drug codes and labels).
RXNORM_DRUGS = {"4492": "fluorouracil", "32592": "oxaliplatin", "51499": "irinotecan", "194000": "capecitabine",
                "253337": "bevacizumab", "318341": "cetuximab", "263034": "panitumumab", "6313": "leucovorin",
                "1547545": "pembrolizumab", "1597876": "nivolumab", "224905": "trastuzumab",
                "2049106": "encorafenib"}
DRUG_SYNONYMS = {"5-fu": "fluorouracil", "5-fluorouracil": "fluorouracil", "fluorouracil": "fluorouracil",
                 "folinic acid": "leucovorin", "leucovorin": "leucovorin", "levoleucovorin": "leucovorin",
                 "calcium folinate": "leucovorin", "trifluridine/tipiracil": "trifluridine_tipiracil",
                 "trifluridine and tipiracil": "trifluridine_tipiracil", "tas-102": "trifluridine_tipiracil",
                 "fam-trastuzumab deruxtecan": "trastuzumab_deruxtecan", "ziv-aflibercept": "aflibercept",
                 "s-1": "s1", "fudr": "floxuridine"}
MODULATORS = {"leucovorin"}  # part of FOLFOX/FOLFIRI/FU_LV but not listed as a regimen drug

PROCEDURE_SNOMED = {"23968004": "primary_resection",   # Colectomy
                    "173171007": "lung_lobectomy"}      # Lobectomy of lung
PROCEDURE_TEXT = [  # (phrase in the code's display/text, kind); first match wins
    ("abdominoperineal", "primary_resection"), ("anterior resection", "primary_resection"),
    ("proctectomy", "primary_resection"), ("rectal resection", "primary_resection"),
    ("hemicolectomy", "primary_resection"), ("colectomy", "primary_resection"),
    ("sigmoidectomy", "primary_resection"), ("lobectomy", "lung_lobectomy"),
    ("wedge resection of lung", "lung_sublobar_resection"), ("lung wedge", "lung_sublobar_resection"),
    ("segmentectomy", "lung_sublobar_resection"), ("hepatectomy", "liver_resection"),
    ("liver resection", "liver_resection"), ("metastasectomy of liver", "liver_resection"),
]


# statuses of a medication resource that record therapy given (or being given: a statement "active", an
# administration "in-progress"); an active request is an order, which does not say the drug was given
HISTORY_STATUSES = {"MedicationRequest": ("completed", "stopped"),
                    "MedicationAdministration": ("completed", "stopped", "in-progress"),
                    "MedicationStatement": ("completed", "stopped", "active")}


class TreatmentsReader(ReaderState):
    """Reads Procedures and MedicationStatements, -Requests and -Administrations into the treatment history."""

    def procedure(self, res: Any) -> None:
        if read_history.RADIOTHERAPY_COURSE in _code_in(res.code, SNOMED):
            read_history.radiotherapy(self, res)
            return
        if res.status != "completed":
            self.skip(res, f"procedure status '{res.status}' (only completed procedures are history)")
            return
        word = read_history.procedure_kind(res)
        kinds = {word} if word else {PROCEDURE_SNOMED[c] for c in _code_in(res.code, SNOMED) if c in PROCEDURE_SNOMED}
        if not kinds:
            for text in (t.lower() for t in _texts(res.code)):
                kind = next((k for phrase, k in PROCEDURE_TEXT if phrase in text), None)
                if kind:
                    kinds.add(kind)
                    break
        if len(kinds) != 1:
            self.skip(res, "procedure not recognised" if not kinds else "procedure code is ambiguous")
            self.incomplete.add("procedures")
            return
        kind = kinds.pop()
        when = _date(res.performedDateTime) or (_date(res.performedPeriod.start) if res.performedPeriod else None)
        proc: dict[str, Any] = {"kind": kind}
        if when:
            proc["date"] = when
        if margin := read_history.margin(res):
            proc["margin"] = margin
        self.procedures.append(proc)
        if kind == "primary_resection":
            self.resections.append(when)

    def medication(self, res: Any) -> None:
        kind = res.__resource_type__
        if res.status not in HISTORY_STATUSES[kind]:
            self.skip(res, f"{kind} status '{res.status}' (history is {', '.join(HISTORY_STATUSES[kind])})")
            return
        cc = res.medicationCodeableConcept
        if cc is None:
            self.skip(res, "medication given by reference; only medicationCodeableConcept is read")
            self.incomplete.add("courses")
            return
        if read_history.NO_AGENTS in _code_in(cc, VALUE_CS):
            self.meds.append((f"{kind}/{res.id}", res, None))
            return
        drugs = medication_drugs(cc)
        if len(drugs) != 1:
            self.skip(res, "drug not recognised" if not drugs else "medication names several drugs")
            self.incomplete.add("courses")
            return
        self.meds.append((f"{res.__resource_type__}/{res.id}", res, drugs.pop()))

    def courses(self) -> list[dict[str, Any]]:
        return read_history.courses(self, INTENTS, INTENT_EXTS, MODULATORS)

    def _primary_status(self) -> None:
        """A primary resection says the primary was resected, unless the MDT's record of the primary's status says
        it recurred (the resection date stays); a record that it is in place contradicts it (left unknown)."""
        if not self.resections:
            return
        dates = sorted(d for d in self.resections if d)
        status = self.primary.get("status")
        if status == "in_place":
            self.warnings.append("primary.status 'in_place' contradicts a primary resection in the Bundle; "
                                 "left unknown")
            self.primary["status"] = CONFLICT
            return
        if status is None:
            self.primary["status"] = "resected"
        if dates and "resected_on" not in self.primary:
            self.primary["resected_on"] = dates[-1]



_NAME_INDEX: list[tuple[str, re.Pattern[str], str]] | None = None


def _name_index() -> list[tuple[str, re.Pattern[str], str]]:
    """Drug names (vocabulary codes and the synonyms above), longest first, as whole-word patterns."""
    global _NAME_INDEX
    if _NAME_INDEX is None:
        vocab = load_vocabulary()
        names = dict(DRUG_SYNONYMS)
        for code in vocab.codes("drugs"):
            for name in {code, code.replace("_", " "), code.replace("_", "-")}:
                names.setdefault(name, code)
        _NAME_INDEX = [(n, re.compile(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])"), names[n])
                       for n in sorted(names, key=len, reverse=True)]
    return _NAME_INDEX


def medication_drugs(cc: Any) -> set[str]:
    """The vocabulary drugs a medication CodeableConcept names: by RxNorm code, else by name in its text.

    A recognised RxNorm code wins over the text. Names are matched as whole words, longest first, so
    "trastuzumab deruxtecan" is one drug, not two. An empty set means not recognised (never guessed).
    """
    by_code = {RXNORM_DRUGS[c] for c in _code_in(cc, RXNORM) if c in RXNORM_DRUGS}
    if by_code:
        return by_code
    found: set[str] = set()
    for text in (t.lower().strip() for t in _texts(cc)):
        for _name, pattern, code in _name_index():
            if pattern.search(text):
                found.add(code)
                text = pattern.sub(" ", text)
    return found
