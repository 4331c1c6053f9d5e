"""What a safety invariant's or a caveat's selector picks among the things an answer recommends (shared by the
run-time safety check, the caveats and the verifier)."""

from __future__ import annotations

from typing import Any

from mcrc.knowledge.model import KnowledgeBase, Selector

# What a selector can look at: (section, code, action class, regimen codes) per recommended thing.
Entry = tuple[str, str, str | None, tuple[str, ...]]


_MATCH_CACHE: dict[tuple, tuple[Any, Selector, bool]] = {}


def _matches(kb: KnowledgeBase, sel: Selector, entry: Entry) -> bool:
    """Whether a selector picks an entry; pure in (vocabulary, selector, entry), so it is memoised (keyed by the
    identity of the vocabulary and the selector, which the entry keeps alive: hashing a selector costs more)."""
    key = (id(kb.vocabulary), id(sel), entry)
    hit = _MATCH_CACHE.get(key)
    if hit is None or hit[0] is not kb.vocabulary or hit[1] is not sel:
        if len(_MATCH_CACHE) > 100_000:
            _MATCH_CACHE.clear()
        hit = _MATCH_CACHE[key] = (kb.vocabulary, sel, _match(kb, sel, entry))
    return hit[2]


def _match(kb: KnowledgeBase, sel: Selector, entry: Entry) -> bool:
    section, code, action_class, regimens = entry
    vocab = kb.vocabulary
    if sel.sections and section not in sel.sections:
        return False
    if action_class is None and vocab.has("actions", code):
        action_class = vocab.get("actions", code).klass
    if sel.code and code in sel.code:
        return True
    if sel.action_class and action_class in sel.action_class:
        return True
    for reg in regimens:
        drugs = vocab.get("regimens", reg).drugs
        if sel.without_drug_class and vocab.regimen_drug_classes(reg) & set(sel.without_drug_class):
            continue
        if sel.drug and set(drugs) & set(sel.drug):
            return True
        if sel.drug_class and vocab.regimen_drug_classes(reg) & set(sel.drug_class):
            return True
        if sel.combination and len({vocab.get("drugs", d).klass for d in drugs} & CYTOTOXIC) >= 2:
            return True
    return False


# Combination chemotherapy: cytotoxic drugs of two or more classes in one regimen (the `combination` selector). A
# fluoropyrimidine with an antibody (capecitabine + bevacizumab) is the de-escalated option, not a combination; so
# is hepatic arterial floxuridine with systemic 5-FU (two fluoropyrimidines).
CYTOTOXIC = frozenset({"fluoropyrimidine", "oxaliplatin", "irinotecan", "thymidine_analogue"})
