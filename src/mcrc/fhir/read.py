"""Read an mCODE-style FHIR R4B Bundle into an mcrc Patient.

Only standard codes are mapped (SNOMED CT, LOINC, LOINC answer codes, HGNC, ICD-10, RxNorm and the
mCODE profiles' canonical URLs). Whatever cannot be mapped with certainty is reported in
`ReadResult.unmapped` as "<ResourceType>/<id>: <reason>"; nothing is guessed, and a fact with no
resource stays absent (= unknown) in the Patient.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from mcrc.errors import InputError, Problem
from mcrc.fhir import read_history, read_mcrc
from mcrc.fhir.read_mcrc import VALUE_CS
from mcrc.patient import Location, Organ, Patient, parse_patient
from mcrc.vocabulary import load_vocabulary

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
HGNC = "http://www.genenames.org"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"

# SNOMED CT body structures of the primary tumour (PrimaryCancerCondition.bodySite).
PRIMARY_SITES: dict[str, str] = {
    "32713005": "caecum",            # Cecum structure
    "9040008": "ascending_colon",    # Ascending colon structure
    "48338005": "hepatic_flexure",   # Hepatic flexure of colon structure
    "485005": "transverse_colon",    # Transverse colon structure
    "72592005": "splenic_flexure",   # Splenic flexure of colon structure
    "32622004": "descending_colon",  # Descending colon structure
    "60184004": "sigmoid_colon",     # Sigmoid colon structure
    "49832006": "rectosigmoid",      # Rectosigmoid junction structure
    "34402009": "rectum",            # Rectum structure
    # the side without the segment (decision record 0035)
    "51342009": "right_colon",       # Right colon structure
    "55572008": "left_colon",        # Left colon structure
}
# ICD-10 topography in Condition.code, used only when no bodySite is given.
PRIMARY_ICD10: dict[str, str] = {
    "C18.0": "caecum", "C18.2": "ascending_colon", "C18.3": "hepatic_flexure", "C18.4": "transverse_colon",
    "C18.5": "splenic_flexure", "C18.6": "descending_colon", "C18.7": "sigmoid_colon", "C19": "rectosigmoid",
    "C20": "rectum",
}
# SNOMED CT body structures of metastases (SecondaryCancerCondition.bodySite).
METASTASIS_SITES: dict[str, str] = {
    "39607008": "lung",                 # Lung structure
    "10200004": "liver",                # Liver structure
    "15425007": "peritoneum",           # Peritoneum (serous membrane) structure
    "3138006": "bone",                  # Bone structure
    "12738006": "brain",                # Brain structure
    "23451007": "adrenal",              # Adrenal gland structure
    "15497006": "ovary",                # Ovarian structure
    "59441001": "distant_lymph_nodes",  # Structure of lymph node (a secondary cancer site: distant by definition)
}
METASTASIS_ICD10: dict[str, str] = {
    "C78.0": "lung", "C78.00": "lung", "C78.01": "lung", "C78.02": "lung", "C78.6": "peritoneum",
    "C78.7": "liver", "C79.5": "bone", "C79.51": "bone", "C79.3": "brain", "C79.31": "brain",
    "C79.7": "adrenal", "C79.70": "adrenal", "C79.6": "ovary", "C79.60": "ovary", "C77.9": "distant_lymph_nodes",
}

# ---- sides of lung and liver metastases; a site's response (decision record 0036; docs/fhir-codes.md) --------------
# SNOMED CT body structures that name the side as well as the organ (SecondaryCancerCondition.bodySite).
METASTASIS_SIDED: dict[str, tuple[str, str]] = {
    "3341006": ("lung", "right"),    # Right lung structure
    "44029006": ("lung", "left"),    # Left lung structure
    "48521005": ("liver", "right"),  # Structure of right lobe of liver
    "69842003": ("liver", "left"),   # Structure of left lobe of liver
}
METASTASIS_SITES_ALL = {**METASTASIS_SITES, **{code: organ for code, (organ, _) in METASTASIS_SIDED.items()}}
LATERALITY_EXT = MCODE + "mcode-laterality-qualifier"
LATERALITY = {"7771000": "left", "24028007": "right"}  # Left / Right (qualifier value); for lung metastases
# mCODE CancerDiseaseStatus (LOINC 97509-4 in STU3, 88040-1 "Response to cancer treatment" before), its focus a
# SecondaryCancerCondition: "not detected" / "no abnormality detected" is a complete response of that site;
# stable or worse is not; "improved" does not say whether anything is left (unknown).
LOINC_DISEASE_STATUS = {"97509-4", "88040-1"}
DISEASE_STATUS_CR = {"260415000": True, "281900007": True, "359746009": False, "271299001": False}
DISEASE_STATUS_OPEN = {"268910001", "709137006"}  # improved; undetermined

LOINC_ECOG = "89247-1"
ECOG_ANSWERS = {"LA9622-7": 0, "LA9623-5": 1, "LA9624-3": 2, "LA9625-0": 3, "LA9626-8": 4}
LOINC_CEA = "2039-6"
LOINC_CT, LOINC_CN = "21905-5", "21906-3"
LOINC_PT, LOINC_PN = "21899-0", "21900-6"  # pathological T and N (a "yp" prefix: after neoadjuvant therapy)
LOINC_OTHER_TNM = {"21907-1": "clinical M category (implied by the metastases)",
                   "21901-4": "pathological M category (not in the model)",
                   "21908-9": "clinical stage group (not in the model)",
                   "21902-2": "pathological stage group (not in the model)"}
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

# Patient context of decision record 0035. Lynch syndrome: SNOMED CT 315058005 (Hereditary nonpolyposis colon
# cancer). Another primary cancer: a Condition whose ICD-10 code is a malignant neoplasm outside the colon and rectum
# (C00-C97 except C18-C20, the secondary sites C77-C79 and C80, unknown primary), read as "active" when its clinical
# status is active, recurrence or relapse; whether a cancer in remission is recent is the MDT's judgement.
SNOMED_LYNCH = "315058005"
_ICD_MALIGNANT = re.compile(r"^C(\d\d)")
CURRENT_STATUSES = ("active", "recurrence", "relapse")


def _other_cancer(icd: list[str]) -> str | None:
    """The first ICD-10 code of a malignant neoplasm other than the colorectal primary and its metastases."""
    for code in icd:
        m = _ICD_MALIGNANT.match(code)
        if m and int(m.group(1)) <= 97 and int(m.group(1)) not in (18, 19, 20, 77, 78, 79, 80):
            return code
    return None


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


CONFLICT = "__conflict__"  # an element two resources disagree on: left unknown (removed before validation)
# statuses of a medication resource that record therapy given (or being given: a statement "active", an
# administration "in-progress"); an active request is an order, which does not say the drug was given
HISTORY_STATUSES = {"MedicationRequest": ("completed", "stopped"),
                    "MedicationAdministration": ("completed", "stopped", "in-progress"),
                    "MedicationStatement": ("completed", "stopped", "active")}

_PT = ("Tis", "T1", "T2", "T3", "T4", "T4a", "T4b")
_YPT = ("T0", *_PT)
_PN = ("N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b")


@dataclass
class ReadResult:
    patient: Patient
    unmapped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _codings(cc: Any) -> list[Any]:
    return list(cc.coding or []) if cc is not None else []


def _code_in(cc: Any, system: str | tuple[str, ...]) -> list[str]:
    systems = (system,) if isinstance(system, str) else system
    return [c.code for c in _codings(cc) if c.system in systems and c.code]


def _texts(cc: Any) -> list[str]:
    if cc is None:
        return []
    out = [cc.text] if cc.text else []
    return out + [c.display for c in _codings(cc) if c.display] + [c.code for c in _codings(cc) if c.code]


def _value_texts(res: Any) -> list[str]:
    """The texts an Observation's value may give a staging category in: its codings and text, or a string."""
    out = _texts(res.valueCodeableConcept)
    if res.valueString:
        out.append(res.valueString)
    return out


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None


def _profiles(res: Any) -> list[str]:
    return [str(p) for p in (res.meta.profile or [])] if res.meta else []


class _Reader:
    def __init__(self, today: dt.date):
        self.today = today
        self.unmapped: list[str] = []
        self.warnings: list[str] = []
        self.data: dict[str, Any] = {}
        self.primary: dict[str, Any] = {}
        self.lesions: dict[str, dict[str, Any]] = {}
        self.bio: dict[str, Any] = {}
        self.procedures: list[dict[str, Any]] = []
        self.meds: list[tuple[str, Any, str | None]] = []  # (ref, resource, drug)
        self.ecog: tuple[dt.date | None, int] | None = None
        self.cea: tuple[dt.date | None, float] | None = None
        self.full_url: str | None = None  # of the entry being read
        self.sides: dict[str, set[str]] = {}  # organ -> sides named by its SecondaryCancerConditions
        self.condition_organs: dict[str, str] = {}  # "Condition/<id>" or fullUrl -> organ
        self.statuses: list[tuple[Any, list[str], dt.date | None, bool]] = []  # (res, focus refs, date, CR)
        self.pending: list[tuple[Any, str, list[str], Any]] = []  # mcrc-patient Observations (read_mcrc)
        self.complete: set[str] = set()  # history lists the Bundle declares complete (read_history)
        self.incomplete: set[str] = set()  # history lists with an item mcrc could not record: left unknown
        self.radiotherapy: list[dict[str, Any]] = []
        self.resections: list[dt.date | None] = []  # dates of primary resections
        self.origins: dict[str, set[str]] = {}  # Patient path -> the resources it was read from (for problems)

    def origin(self, path: str, res: Any) -> None:
        self.origins.setdefault(path, set()).add(f"{res.__resource_type__}/{res.id or '(no id)'}")

    def put(self, target: dict[str, Any], key: str, value: Any, label: str) -> None:
        """Set an element; a second, different value leaves it unknown with a warning (never one chosen)."""
        if key in target and target[key] != value:
            if target[key] != CONFLICT:
                self.warnings.append(f"{label} {value!r} contradicts {target[key]!r}; left unknown")
            target[key] = CONFLICT
        else:
            target[key] = value

    def skip(self, res: Any, reason: str) -> None:
        self.unmapped.append(f"{res.__resource_type__}/{res.id or '(no id)'}: {reason}")

    # --- Patient -----------------------------------------------------------------------------
    def patient(self, res: Any) -> None:
        if res.id:
            self.data["id"] = res.id[:64]
        if res.birthDate:
            born = _date(res.birthDate)
            if born is None:  # a partial date (year or year-month): the age is not known to the year
                self.skip(res, f"birthDate '{res.birthDate}' is not a full date; age left unknown")
            else:
                age = self.today.year - born.year - ((self.today.month, self.today.day) < (born.month, born.day))
                self.data["age"] = age
        if res.gender in ("male", "female"):
            self.data["sex"] = res.gender
        elif res.gender:
            self.skip(res, f"gender '{res.gender}' has no equivalent in the model")

    # --- Conditions --------------------------------------------------------------------------
    def condition(self, res: Any) -> None:
        profiles = _profiles(res)
        icd = _code_in(res.code, ICD10)
        if SNOMED_LYNCH in _code_in(res.code, SNOMED):
            self.data["hereditary_syndrome"] = "lynch"
            return
        if (other := _other_cancer(icd)) is not None:
            self._other_primary(res, other)
            return
        if any("primary-cancer-condition" in p for p in profiles) or any(c.startswith(("C18", "C19", "C20"))
                                                                          for c in icd):
            self._primary(res, icd)
        elif any("secondary-cancer-condition" in p for p in profiles) or any(c.startswith(("C77", "C78", "C79"))
                                                                            for c in icd):
            self._secondary(res, icd)
        else:
            self.skip(res, "not a PrimaryCancerCondition or SecondaryCancerCondition")

    def _site(self, res: Any, icd: list[str], sites: dict[str, str], icd_sites: dict[str, str],
              words: tuple[str, ...] = ()) -> str | None:
        codes = [c for bs in (res.bodySite or []) for c in _code_in(bs, SNOMED)]
        found = {sites[c] for c in codes if c in sites}
        # a site with no SNOMED CT code mcrc reads (e.g. a pelvic implant, "other"): mcrc-value, the model's word
        found |= {c for bs in (res.bodySite or []) for c in _code_in(bs, VALUE_CS) if c in words}
        if not found and not res.bodySite:
            found = {icd_sites[c] for c in icd if c in icd_sites}
        if len(found) == 1:
            return found.pop()
        if len(found) > 1:
            self.skip(res, f"several body sites ({', '.join(sorted(found))}); which one is meant is unclear")
        else:
            shown = ", ".join(codes) or ", ".join(t for bs in (res.bodySite or []) for t in _texts(bs)) or "none"
            self.skip(res, f"body site not recognised (SNOMED codes: {shown})")
        return None

    def _primary(self, res: Any, icd: list[str]) -> None:
        site = self._site(res, icd, PRIMARY_SITES, PRIMARY_ICD10, typing.get_args(Location))
        if site is None:
            return
        if self.primary.get("location") not in (None, site):
            self.skip(res, f"a second primary ({site}); only one primary is supported")
            return
        self.primary["location"] = site
        self.origin("primary.location", res)
        onset = _date(res.onsetDateTime) or _date(res.recordedDate)
        if onset:
            self.primary["diagnosed"] = onset

    def _other_primary(self, res: Any, code: str) -> None:
        status = _code_in(res.clinicalStatus, "http://terminology.hl7.org/CodeSystem/condition-clinical")
        if status and status[0] in CURRENT_STATUSES:
            self.data["second_primary_cancer"] = "active"
        else:
            shown = f"clinical status '{status[0]}'" if status else "no clinical status"
            self.skip(res, f"another primary cancer ({code}) with {shown}: whether it is recent enough to matter is "
                           "the MDT's judgement (record second_primary_cancer)")

    def _secondary(self, res: Any, icd: list[str]) -> None:
        organ = self._site(res, icd, METASTASIS_SITES_ALL, METASTASIS_ICD10, typing.get_args(Organ))
        if organ is None:
            return
        status = _code_in(res.clinicalStatus, "http://terminology.hl7.org/CodeSystem/condition-clinical")
        if status and status[0] not in ("active", "recurrence", "relapse"):
            self.skip(res, f"clinical status '{status[0]}' (not current disease)")
            return
        lesion = self.lesions.setdefault(organ, {"organ": organ})
        self.origin(f"metastases[{list(self.lesions).index(organ)}]", res)
        self._sides(res, organ)
        found = _date(res.onsetDateTime) or _date(res.recordedDate)
        if found and (lesion.get("found") is None or found < lesion["found"]):
            lesion["found"] = found

    # --- Observations ------------------------------------------------------------------------
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

    def _sides(self, res: Any, organ: str) -> None:
        """The side a SecondaryCancerCondition names (a sided body structure, or mCODE's laterality qualifier on a
        lung body site), and the references by which a disease-status observation may point at it."""
        for key in (f"Condition/{res.id}" if res.id else None, self.full_url):
            if key:
                self.condition_organs[key] = organ
        for bs in res.bodySite or []:
            for code in _code_in(bs, SNOMED):
                if code in METASTASIS_SIDED and METASTASIS_SIDED[code][0] == organ:
                    self.sides.setdefault(organ, set()).add(METASTASIS_SIDED[code][1])
            for ext in bs.extension or []:
                if ext.url == LATERALITY_EXT and organ == "lung":
                    for code in _code_in(ext.valueCodeableConcept, SNOMED):
                        if code in LATERALITY:
                            self.sides.setdefault(organ, set()).add(LATERALITY[code])

    def _disease_status(self, res: Any, when: dt.date | None) -> None:
        codes = _code_in(res.valueCodeableConcept, SNOMED) if res.valueCodeableConcept else []
        known = [c for c in codes if c in DISEASE_STATUS_CR]
        refs = [f.reference for f in res.focus or [] if f.reference]
        if not refs:
            self.skip(res, "disease status without a focus (which metastatic site it describes is unknown)")
        elif not known:
            open_ = [c for c in codes if c in DISEASE_STATUS_OPEN]
            self.skip(res, "disease status " + (f"{open_[0]} does not say whether the site is in complete response"
                                               if open_ else "value not recognised"))
        else:
            self.statuses.append((res, refs, when, DISEASE_STATUS_CR[known[0]]))

    def _responses(self) -> None:
        """Each site's latest disease status, when its focus is a SecondaryCancerCondition of the Bundle."""
        latest: dict[str, tuple[dt.date, bool]] = {}
        for res, refs, when, cr in self.statuses:
            organs = {self.condition_organs[r] for r in refs if r in self.condition_organs}
            if len(organs) != 1:
                self.skip(res, "disease status whose focus is not one metastatic site of this Bundle")
                continue
            organ = organs.pop()
            day = when or dt.date.min
            if organ not in latest or day >= latest[organ][0]:
                latest[organ] = (day, cr)
        # beside an mcrc-patient record of the same element (read_mcrc): both must agree, else it is unknown
        for organ, (_, cr) in latest.items():
            if organ in self.lesions:
                self.put(self.lesions[organ], "complete_response", cr, f"CancerDiseaseStatus of the {organ}:")
        for organ, sides in self.sides.items():
            if organ in self.lesions and sides == {"left", "right"}:  # one side only does not say the other is clear
                key = "bilateral" if organ == "lung" else "bilobar"
                self.put(self.lesions[organ], key, True, f"{organ} metastases on both sides: {key}")

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

    def _tnm(self, res: Any, key: str) -> None:
        """A clinical category: cT or cN (with or without the "c" prefix)."""
        letter = "T" if key == "ct" else "N"
        pattern = re.compile(rf"^[cC]?({letter}(?:[0-4][abc]?|is|X))$")
        for cand in _value_texts(res):
            m = pattern.match(cand.strip())
            if m:
                value = m.group(1)
                allowed = (("T1", "T2", "T3", "T4", "T4a", "T4b") if key == "ct"
                           else ("N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b"))
                if value in allowed:
                    self.primary[key] = value
                else:
                    self.skip(res, f"c{value} has no equivalent in the model")
                return
        self.skip(res, f"clinical {letter} category value not recognised")

    def _path_tnm(self, res: Any, letter: str) -> None:
        """A pathological category: pT/pN, or ypT/ypN with the "yp" prefix (decision record 0035)."""
        pattern = re.compile(rf"^(yp|p)?({letter}(?:[0-4][abc]?|is|X))$", re.IGNORECASE)
        for cand in _value_texts(res):
            m = pattern.match(cand.strip())
            if m:
                after = (m.group(1) or "").lower() == "yp"
                value = m.group(2)[0].upper() + m.group(2)[1:]
                key = ("yp" if after else "p") + letter.lower()
                allowed = (_YPT if after else _PT) if letter == "T" else _PN
                if value in allowed:
                    self.primary[key] = value
                else:
                    self.skip(res, f"{'yp' if after else 'p'}{value} has no equivalent in the model")
                return
        self.skip(res, f"pathological {letter} category value not recognised")

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

    # --- Procedures and medications ----------------------------------------------------------
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

    def result(self) -> dict[str, Any]:
        read_mcrc.apply(self)
        self._primary_status()
        data = {"schema_version": "2", **self.data}
        if self.ecog:
            data["ecog"] = self.ecog[1]
        if self.cea:
            data["cea_ng_ml"] = self.cea[1]
        if self.primary:
            data["primary"] = self.primary
        self._responses()
        if self.lesions:
            data["metastases"] = list(self.lesions.values())
        bio = dict(self.bio)
        if bio.get("kras_variant") and bio.get("kras") != "mutant":
            bio.pop("kras_variant")
        if bio:
            data["biomarkers"] = bio
        history: dict[str, Any] = {}
        for key, items in (("courses", self.courses()), ("radiotherapy", self.radiotherapy),
                           ("procedures", self.procedures)):
            if key in self.incomplete:
                self.unmapped.append(f"treatment_history.{key}: left unknown, since an item of it could not be "
                                     "recorded (above)")
            elif items or key in self.complete:
                history[key] = items
        if history:
            data["treatment_history"] = history
        return _without_conflicts(data)


def _without_conflicts(value: Any) -> Any:
    """The record without the elements whose sources disagreed (unknown), and without what is left empty."""
    if isinstance(value, dict):
        out = {k: _without_conflicts(v) for k, v in value.items() if v != CONFLICT}
        return {k: v for k, v in out.items() if v != {} or k in ("primary",)}
    if isinstance(value, list):
        return [_without_conflicts(v) for v in value]
    return value


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


_AA = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q", "Glu": "E", "Gly": "G", "His": "H",
       "Ile": "I", "Leu": "L", "Lys": "K", "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W",
       "Tyr": "Y", "Val": "V"}


def _one_letter(aa: str) -> str:
    return _AA.get(aa, aa)


def _bundle_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for err in exc.errors()[:20]:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ())).lstrip(".")
        problems.append(Problem(f"Bundle.{where}" if where else "Bundle", err.get("msg", "invalid")))
    return problems


# Bundle.type (FHIR R4B, required binding to http://hl7.org/fhir/bundle-type)
BUNDLE_TYPES = ("document", "message", "transaction", "transaction-response", "batch", "batch-response", "history",
                "searchset", "collection")


def _check_no_null(bundle_json: dict) -> None:
    """FHIR JSON has no null members (an element is left out instead; only arrays of primitives may hold null, to
    line up with their extensions). The R4B models would take null as absent; the specification refuses it."""
    problems: list[Problem] = []
    stack: list[tuple[Any, str]] = [(bundle_json, "Bundle")]
    while stack and len(problems) < 10:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if child is None:
                    problems.append(Problem(f"{where}.{key}", "null is not FHIR JSON: leave the element out"))
                elif isinstance(child, (dict, list)):
                    stack.append((child, f"{where}.{key}"))
        else:
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(value) if isinstance(child, (dict, list)))
    if problems:
        raise InputError(sorted(problems, key=lambda p: p.where))


def _check_entries(bundle_json: dict) -> None:
    """Shape errors the FHIR models report obscurely, reported here with their JSON path instead."""
    from fhir.resources.R4B import get_fhir_model_class

    entries = bundle_json.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        raise InputError([Problem("Bundle.entry", f"expected a list, got {type(entries).__name__}")])
    problems = []
    for i, entry in enumerate(entries):
        where = f"Bundle.entry[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem(where, f"expected an object, got {type(entry).__name__}"))
            continue
        res = entry.get("resource")
        if res is None:
            continue
        if not isinstance(res, dict):
            problems.append(Problem(f"{where}.resource", f"expected a resource object, got {type(res).__name__}"))
            continue
        kind = res.get("resourceType")
        if not isinstance(kind, str) or not kind:
            problems.append(Problem(f"{where}.resource.resourceType", "missing"))
            continue
        try:
            get_fhir_model_class(kind)
        except (KeyError, ValueError, ImportError, AttributeError):
            problems.append(Problem(f"{where}.resource.resourceType", f"'{kind[:40]}' is not a FHIR R4B resource type"))
    if problems:
        raise InputError(problems[:20])


def _with_origin(problem: Problem, origins: dict[str, set[str]]) -> Problem:
    """A problem of the record read from a Bundle, naming the resources its elements were read from."""
    where = problem.where
    refs = sorted({ref for path, found in origins.items()
                   if where in ("(patient)", "") or path == where or path.startswith((where + ".", where + "["))
                   or where.startswith((path + ".", path + "["))
                   for ref in found})
    if not refs:
        return problem
    shown = ", ".join(refs[:6]) + (f" and {len(refs) - 6} more" if len(refs) > 6 else "")
    return Problem(where, f"{problem.message} (read from {shown})", problem.allowed)


def content_digest(bundle_json: dict) -> str:
    """SHA-256 of the Bundle's canonical JSON (sorted keys, no spaces, UTF-8): equal for equal content. orjson:
    an EHR sends the record with every CDS call, and the stdlib encoder took ~9x as long (~190 us a record)."""
    try:
        canonical = orjson.dumps(bundle_json, option=orjson.OPT_SORT_KEYS, default=str)
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits from another JSON reader)
        canonical = json.dumps(bundle_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                               default=str).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


def read_bundle(bundle_json: dict, today: dt.date | None = None) -> ReadResult:
    """Map an mCODE-style Bundle to a Patient; raise InputError if the Bundle is not valid FHIR R4B."""
    from fhir.resources.R4B.bundle import Bundle

    today = today or dt.date.today()
    if not isinstance(bundle_json, dict):
        raise InputError([Problem("Bundle", f"expected a JSON object, got {type(bundle_json).__name__}")])
    if bundle_json.get("resourceType") != "Bundle":
        raise InputError([Problem("Bundle.resourceType",
                                  f"expected 'Bundle', got {bundle_json.get('resourceType')!r}")])
    _check_no_null(bundle_json)
    if bundle_json.get("type") not in BUNDLE_TYPES:  # 1..1 with a required binding; the models take any code
        raise InputError([Problem("Bundle.type", f"{bundle_json.get('type')!r} is not a FHIR R4B Bundle type",
                                  ", ".join(BUNDLE_TYPES))])
    _check_entries(bundle_json)
    try:
        bundle = Bundle.model_validate(bundle_json)
    except ValidationError as exc:
        raise InputError(_bundle_problems(exc)) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError([Problem("Bundle", f"not a valid FHIR R4B Bundle: {exc}")]) from None
    reader = _Reader(today)
    handlers = {"Patient": reader.patient, "Condition": reader.condition, "Observation": reader.observation,
                "Procedure": reader.procedure, "MedicationStatement": reader.medication,
                "MedicationAdministration": reader.medication, "MedicationRequest": reader.medication,
                "List": lambda res: read_history.history_list(reader, res)}
    patients = 0
    for entry in bundle.entry or []:
        res = entry.resource
        if res is None:
            continue
        kind = res.__resource_type__
        if kind == "Patient":
            patients += 1
            if patients > 1:
                raise InputError([Problem("Bundle.entry", "more than one Patient resource")])
        handler = handlers.get(kind)
        reader.full_url = entry.fullUrl
        if handler is None:
            reader.skip(res, f"resource type {kind} is not read")
        else:
            handler(res)
    try:
        patient = parse_patient(reader.result(), today=today)
    except InputError as exc:  # resources that each read well but together make an impossible record
        raise InputError([_with_origin(p, reader.origins) for p in exc.problems]) from None
    return ReadResult(patient=patient, unmapped=reader.unmapped, warnings=reader.warnings)
