"""FHIR R4B interchange: read an mCODE-style Bundle into a Patient, write an Assessment as a CarePlan."""

from mcrc.fhir.read import ReadResult, read_bundle
from mcrc.fhir.write import careplan

__all__ = ["ReadResult", "careplan", "read_bundle"]
