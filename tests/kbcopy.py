"""Make a copy of the packaged knowledge base with planted edits (for loader and safety tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

from mcrc.knowledge import default_data_dir

LUNG = "tables/10-ccs-lung-2019.yaml"


def kb_copy(tmp_path: Path, edits: list[tuple[str, str, str]]) -> Path:
    """Copy the knowledge data dir and apply (file, old, new) replacements; each old text must exist once."""
    target = tmp_path / "kb"
    shutil.copytree(default_data_dir(), target)
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"edit anchor not unique in {file}: {old!r} ({text.count(old)} times)"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return target
