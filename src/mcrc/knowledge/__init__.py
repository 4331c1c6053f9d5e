"""Knowledge as data: decision tables per source, the vocabulary, definitions and safety rules."""

from __future__ import annotations

import functools

from mcrc.knowledge.loader import default_data_dir, load_knowledge_dir
from mcrc.knowledge.model import Citation, Invariant, KnowledgeBase, Row, Table


@functools.cache
def load_knowledge() -> KnowledgeBase:
    """The packaged knowledge base, loaded and validated once per process (kept on disk between processes, keyed
    by the digest of its files and of the code: mcrc.knowledge.cache)."""
    from mcrc.knowledge.cache import load as load_cached

    return load_cached(default_data_dir(), load_knowledge_dir)


__all__ = ["Citation", "Invariant", "KnowledgeBase", "Row", "Table", "default_data_dir", "load_knowledge",
           "load_knowledge_dir"]
