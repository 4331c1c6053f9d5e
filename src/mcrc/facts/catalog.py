"""The fact catalog's old address: it lives in `mcrc.catalog`, below both facts and knowledge (decision 0054)."""

from mcrc.catalog import (
    CATALOG,
    FACTS,
    HISTORY_CLASSES,
    INTOLERANCE_CLASSES,
    PREOP_IRINOTECAN_REGIMENS,
    RESECT,
    FactSpec,
    Kind,
)

__all__ = ["CATALOG", "FACTS", "HISTORY_CLASSES", "INTOLERANCE_CLASSES", "PREOP_IRINOTECAN_REGIMENS", "RESECT",
           "FactSpec", "Kind"]
