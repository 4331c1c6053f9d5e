"""Knowledge as data: decision tables per source, the vocabulary, definitions and safety rules."""

from __future__ import annotations

from functools import cache

from mcrc.knowledge.loader import default_data_dir, load_knowledge_dir
from mcrc.knowledge.model import Citation, Invariant, KnowledgeBase, Row, Table


@cache
def load_knowledge() -> KnowledgeBase:
    """The packaged knowledge base, loaded and validated once per process."""
    return load_knowledge_dir(None)


__all__ = ["Citation", "Invariant", "KnowledgeBase", "Row", "Table", "default_data_dir", "load_knowledge",
           "load_knowledge_dir"]
