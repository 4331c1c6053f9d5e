"""Knowledge as data: decision tables per source, the vocabulary, definitions and safety rules."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcrc.knowledge.model import Citation, Invariant, KnowledgeBase, Row, Table

if TYPE_CHECKING:
    from mcrc.knowledge.loader import default_data_dir, load_knowledge_dir


@functools.cache
def load_knowledge() -> KnowledgeBase:
    """The packaged knowledge base, loaded and validated once per process (kept on disk between processes, keyed
    by the digest of its files and of the code: mcrc.knowledge.cache). The loader (YAML, validation) is imported
    only when the files must be read."""
    from mcrc.knowledge.cache import load as load_cached

    return load_cached(Path(str(resources.files(__name__).joinpath("data"))), _build)


def _build(data_dir: Path) -> KnowledgeBase:
    from mcrc.knowledge.loader import load_knowledge_dir

    return load_knowledge_dir(data_dir)


def __getattr__(name: str) -> Any:
    if name in ("default_data_dir", "load_knowledge_dir"):  # the loader, imported on first use (start-up time)
        from mcrc.knowledge import loader

        return getattr(loader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Citation", "Invariant", "KnowledgeBase", "Row", "Table", "default_data_dir", "load_knowledge",
           "load_knowledge_dir"]
