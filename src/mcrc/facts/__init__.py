"""Facts: the flat record the rules read (catalog), and how a Patient becomes one (derive)."""

from mcrc.catalog import CATALOG, FACTS, FactSpec
from mcrc.facts.derive import derive_facts
from mcrc.facts.model import Facts

__all__ = ["CATALOG", "FACTS", "FactSpec", "Facts", "derive_facts"]
