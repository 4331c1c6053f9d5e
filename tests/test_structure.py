"""Issue 20 item 2, "Structure the answer": strategies named by what they do, regimens grouped and folded,
warnings by severity, section links only for sections present, missing information in clinical words
(decision record 0038)."""

from __future__ import annotations

import pytest

from mcrc import KnowledgeError, load_knowledge
from mcrc.knowledge import load_knowledge_dir
from tests.kbcopy import LUNG, kb_copy


def problems_of(tmp_path, edits):
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(kb_copy(tmp_path, edits))
    return [str(p) for p in exc.value.problems]


# --- 1. every strategy has a label --------------------------------------------------------------------------

def test_every_packaged_strategy_has_a_label():
    kb = load_knowledge()
    unnamed = [r.id for r in kb.rows.values() for s in r.strategies if not s.label]
    assert unnamed == []
    assert sum(len(r.strategies) for r in kb.rows.values()) >= 58


def test_strategy_without_label_is_a_load_error_naming_file_and_row(tmp_path):
    probs = problems_of(tmp_path, [(LUNG, "            - label: Palliative systemic therapy\n              steps:",
                                    "            - steps:")])
    assert len(probs) == 1
    assert "tables/10-ccs-lung-2019.yaml:" in probs[0]
    assert "strategy 1 of row lung.route.isolated_unresectable needs a 'label'" in probs[0]
