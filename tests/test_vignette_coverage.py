"""Every knowledge-base row has at least one vignette (in any tests/test_vignettes_*.py) that makes it fire."""

from __future__ import annotations

import importlib
from pathlib import Path

import mcrc
from tests.vignettes import KB, V


def _all_vignettes() -> list[V]:
    out: list[V] = []
    for path in sorted(Path(__file__).parent.glob("test_vignettes_*.py")):
        out += importlib.import_module(f"tests.{path.stem}").VIGNETTES
    return out


VIGNETTES = _all_vignettes()


def test_every_row_has_a_vignette() -> None:
    rows = set(KB.rows)
    sound = [v for v in VIGNETTES if not v.xfail]
    targeted = {v.row for v in sound}
    fired = set().union(*(mcrc.assess(v.patient).fired_rows() for v in sound))
    assert not rows - targeted, f"rows without a vignette: {sorted(rows - targeted)}"
    assert not rows - fired, f"rows no vignette makes fire: {sorted(rows - fired)}"
    assert not {v.row for v in VIGNETTES} - rows, "vignettes name rows that no longer exist"




def test_vignette_ids_are_unique_across_files() -> None:
    ids = [v.id for v in VIGNETTES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
