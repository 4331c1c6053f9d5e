"""mcrc: cited, explained decision support for metastatic colorectal cancer tumor boards.

Public API (everything else is private and may change):

    mcrc.assess(patient) -> Assessment
    mcrc.parse_patient(dict) / mcrc.parse_patient_json(text) -> Patient
    mcrc.load_knowledge() -> KnowledgeBase
    mcrc.McrcError and its subclasses (see mcrc.errors)
"""

from mcrc.engine import Assessment, assess, assess_facts
from mcrc.errors import (
    EngineError,
    HitPolicyViolation,
    InputError,
    KnowledgeError,
    McrcError,
    SafetyViolation,
)
from mcrc.facts import Facts, derive_facts
from mcrc.knowledge import KnowledgeBase, load_knowledge
from mcrc.patient import Patient, parse_patient, parse_patient_json

__version__ = "0.1.0"

__all__ = [
    "Assessment", "EngineError", "Facts", "HitPolicyViolation", "InputError", "KnowledgeBase", "KnowledgeError",
    "McrcError", "Patient", "SafetyViolation", "assess", "assess_facts", "derive_facts", "load_knowledge",
    "parse_patient", "parse_patient_json",
]
