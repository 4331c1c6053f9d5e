"""The spaCy pipeline that reads a report: sentences and report lines, the fact rules' targets, ConText and sections."""

from __future__ import annotations

import functools
import logging
import re
import sys
import types
import warnings
from typing import Any

from mcrc.extract.rules import load_rules


def _quiet() -> None:
    # medspaCy's matchers hold only regular-expression rules here, so spaCy's phrase matcher inside them is empty
    # and warns so (W036) on every document
    warnings.filterwarnings("ignore", message=r"\[W036\]", category=UserWarning)
    for name in ("medspacy", "PyRuSH", "spacy", "PyFastNER", "quicksectx"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _without_quickumls() -> None:
    """medspaCy 1.3 imports QuickUMLS at import time for a component mcrc never uses (UMLS concept mapping, which
    needs a UMLS licence and database). It is not installed (decision record 0045); an empty module stands in, so
    that asking for that component fails, while nothing else changes."""
    try:
        import quickumls  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        stub = types.ModuleType("quickumls")
        stub.spacy_component = None  # type: ignore[attr-defined]
        sys.modules["quickumls"] = stub


@functools.cache
def pipeline() -> Any:
    """The spaCy pipeline, built once per process (no model: spacy.blank("en"); nothing is downloaded)."""
    _quiet()
    _without_quickumls()
    import spacy
    from medspacy.context import ConTextRule
    from medspacy.section_detection import SectionRule
    from spacy.language import Language

    _quiet()
    rules = load_rules()
    nlp = spacy.blank("en")
    # sentences: spaCy's rule-based splitter plus report lines (medspaCy's PyRuSH and pySBD splitters take 170 and
    # 55 ms on a two-page report, over the 50 ms target alone; decision record 0045)
    nlp.add_pipe("sentencizer")
    if "mcrc_report_lines" not in Language.factories:
        Language.component("mcrc_report_lines", func=_report_lines)
    nlp.add_pipe("mcrc_report_lines")
    # targets: the fact rules' regular expressions, each run once over the text into medspaCy's span group (its
    # TargetMatcher rebuilds the document's text for every regex rule: 37 ms on two pages with these 70 rules)
    if "mcrc_targets" not in Language.factories:
        Language.component("mcrc_targets", func=_targets)
    nlp.add_pipe("mcrc_targets")
    context = nlp.add_pipe("medspacy_context", config={"rules": None, "input_span_type": "group"})
    context.add([ConTextRule(m.literal, m.category, direction=m.direction, max_scope=m.max_scope)
                 for m in rules.modifiers])
    sectionizer = nlp.add_pipe("medspacy_sectionizer",
                               config={"rules": None, "require_start_line": True, "input_span_type": "group"})
    sectionizer.add([SectionRule(f"{s.literal}:", section_id(s.literal)) for s in rules.sections])
    return nlp


SPAN_GROUP = "medspacy_spans"  # where medspaCy's ConText and Sectionizer read targets (input_span_type "group")


def _targets(doc: Any) -> Any:
    text = doc.text
    spans = []
    for rule in load_rules().facts:
        for m in rule.regex.finditer(text):
            if m.end() > m.start() and (span := doc.char_span(m.start(), m.end(), label=rule.id,
                                                                alignment_mode="expand")) is not None:
                spans.append(span)
    doc.spans[SPAN_GROUP] = spans
    return doc


_LINE_START = re.compile(r"(?:[-*\u2022]\s|\d{1,2}[.)]\s|[A-Z][\w /()-]{0,40}:)")


def _report_lines(doc: Any) -> Any:
    """Reports are written in lines: a line that starts a list item ("- ", "2. ") or a field ("KRAS: ...") starts a
    sentence, and so does any line after one that does not end mid-sentence (a letter or a comma). Wrapped prose
    keeps its sentences."""
    text = doc.text
    for m in re.finditer(r"\n[ \t]*(?=\S)", text):
        start = m.end()
        before = text[:m.start()].rstrip()
        if _LINE_START.match(text, start) or not before or not (before[-1].isalpha() or before[-1] == ","):
            span = doc.char_span(start, start + 1, alignment_mode="expand")
            if span is not None and span.start > 0:
                doc[span.start].is_sent_start = True
    return doc


def section_id(literal: str) -> str:
    return re.sub(r"\W+", "_", literal.lower()).strip("_")

