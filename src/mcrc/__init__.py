"""mcrc: cited, explained decision support for metastatic colorectal cancer tumor boards.

Public API (everything else is private and may change):

    mcrc.assess(patient) -> Assessment
    mcrc.parse_patient(dict) / mcrc.parse_patient_json(text) -> Patient
    mcrc.load_knowledge() -> KnowledgeBase
    mcrc.McrcError and its subclasses (see mcrc.errors)

The names are loaded on first use (PEP 562), so `import mcrc` and a command that never assesses (`mcrc --help`)
do not pay for building the engine's models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOME = {
    "Assessment": "mcrc.engine", "assess": "mcrc.engine", "assess_facts": "mcrc.engine",
    "EngineError": "mcrc.errors", "HitPolicyViolation": "mcrc.errors", "InputError": "mcrc.errors",
    "KnowledgeError": "mcrc.errors", "McrcError": "mcrc.errors", "SafetyViolation": "mcrc.errors",
    "Facts": "mcrc.facts", "derive_facts": "mcrc.facts",
    "KnowledgeBase": "mcrc.knowledge", "load_knowledge": "mcrc.knowledge",
    "Patient": "mcrc.patient", "parse_patient": "mcrc.patient", "parse_patient_json": "mcrc.patient",
}

__all__ = [
    "Assessment", "EngineError", "Facts", "HitPolicyViolation", "InputError", "KnowledgeBase", "KnowledgeError",
    "McrcError", "Patient", "SafetyViolation", "assess", "assess_facts", "derive_facts", "load_knowledge",
    "parse_patient", "parse_patient_json",
]


def __getattr__(name: str) -> Any:
    """A public name from its home module, imported on first use and kept; a subpackage (`mcrc.engine`) the same
    way, as an eager package root would have made it an attribute."""
    home = _HOME.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
