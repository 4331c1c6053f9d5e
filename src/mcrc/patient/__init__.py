"""The Patient: the nested record a clinician fills in. Validation happens here, once.

Every field may be absent, and absent means *unknown*; an explicitly empty list means *none*
(e.g. `"courses": []` says no systemic therapy was given). Impossible values are rejected with
the path of the offending field; missing values never are.

The record is split by what it holds: `base` (the strict model, dates, text, schema rules), `primary` (the
primary tumour), `sites` (metastatic sites and their lesions), `biomarkers`, `treatment` (the treatment
history), `record` (the Patient root), `upgrade` (schema 1 to 2) and `parse` (reading JSON). Every name is
importable from `mcrc.patient` as before.
"""

from mcrc.patient.base import TEXT_PATTERN, PastDate, Resectability, Text
from mcrc.patient.biomarkers import Biomarkers, Ctdna
from mcrc.patient.parse import parse_patient, parse_patient_json
from mcrc.patient.primary import (
    N_CATEGORIES,
    PATHOLOGICAL_FIELDS,
    RECTAL_MIDDLE_LOWER_MAX_CM,
    T_CATEGORIES,
    Location,
    PathN,
    PathT,
    Primary,
    RectalThird,
    YpT,
)
from mcrc.patient.record import (
    SCHEMA_VERSION,
    Fitness,
    Patient,
    Preferences,
    Region,
    Symptoms,
    response_history_problems,
)
from mcrc.patient.sites import (
    LIVER_LESION_FIELDS,
    LIVER_ONLY_FIELDS,
    LUNG_ONLY_FIELDS,
    MAX_LISTED_LESIONS,
    PERITONEUM_ONLY_FIELDS,
    Lesion,
    LungZone,
    Organ,
    SingleLesion,
    Size,
)
from mcrc.patient.treatment import (
    BestResponse,
    Course,
    DrugCode,
    Intent,
    Procedure,
    Radiotherapy,
    StopReason,
    TreatmentHistory,
)
from mcrc.patient.upgrade import is_v1, upgrade_v1, v1_problems

__all__ = [
    "LIVER_LESION_FIELDS", "LIVER_ONLY_FIELDS", "LUNG_ONLY_FIELDS", "MAX_LISTED_LESIONS", "N_CATEGORIES",
    "PATHOLOGICAL_FIELDS", "PERITONEUM_ONLY_FIELDS", "RECTAL_MIDDLE_LOWER_MAX_CM", "SCHEMA_VERSION", "TEXT_PATTERN",
    "T_CATEGORIES",
    "BestResponse", "Biomarkers", "Course", "Ctdna", "DrugCode", "Fitness", "Intent", "Lesion", "Location",
    "LungZone", "Organ", "PastDate", "PathN", "PathT", "Patient", "Preferences", "Primary", "Procedure",
    "Radiotherapy", "RectalThird", "Region", "Resectability", "SingleLesion", "Size", "StopReason", "Symptoms",
    "Text", "TreatmentHistory", "YpT",
    "is_v1", "parse_patient", "parse_patient_json", "response_history_problems", "upgrade_v1", "v1_problems",
]
