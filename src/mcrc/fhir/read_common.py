"""What every resource family's reader shares: the code systems, reading codings and dates, and the reader's state."""

from __future__ import annotations

import datetime as dt
from typing import Any

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
HGNC = "http://www.genenames.org"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/"

CONFLICT = "__conflict__"  # an element two resources disagree on: left unknown (removed before validation)


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


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value)
    return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None



class ReaderState:
    """What one reading of a Bundle gathers, and how an element is set, skipped or traced to its resource."""

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
