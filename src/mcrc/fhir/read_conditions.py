"""Conditions and staging: the primary tumour and its TNM categories, the metastatic sites with their sides and
response, Lynch syndrome and other cancers."""

from __future__ import annotations

import datetime as dt
import re
import typing
from typing import Any

from mcrc.fhir.read_common import ICD10, MCODE, SNOMED, ReaderState, _code_in, _date, _texts
from mcrc.fhir.read_mcrc import VALUE_CS
from mcrc.patient import Location, Organ

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

LOINC_CT, LOINC_CN = "21905-5", "21906-3"
LOINC_PT, LOINC_PN = "21899-0", "21900-6"  # pathological T and N (a "yp" prefix: after neoadjuvant therapy)
LOINC_OTHER_TNM = {"21907-1": "clinical M category (implied by the metastases)",
                   "21901-4": "pathological M category (not in the model)",
                   "21908-9": "clinical stage group (not in the model)",
                   "21902-2": "pathological stage group (not in the model)"}

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


_PT = ("Tis", "T1", "T2", "T3", "T4", "T4a", "T4b")
_YPT = ("T0", *_PT)
_PN = ("N0", "N1", "N1a", "N1b", "N1c", "N2", "N2a", "N2b")


def _value_texts(res: Any) -> list[str]:
    """The texts an Observation's value may give a staging category in: its codings and text, or a string."""
    out = _texts(res.valueCodeableConcept)
    if res.valueString:
        out.append(res.valueString)
    return out


def _profiles(res: Any) -> list[str]:
    return [str(p) for p in (res.meta.profile or [])] if res.meta else []



class ConditionsReader(ReaderState):
    """Reads Conditions (primary, metastases, syndromes) and the staging and disease-status Observations."""

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
