"""Load and validate the knowledge files into one KnowledgeBase: every file parsed, checked against the others and
compiled. Every problem names its file, line and what is allowed.

Validation is strict on purpose: a misspelt fact or value, an unknown code, a row without a
citation, a bad hit policy or a duplicate id stops the load; nothing half-valid is used.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from mcrc.catalog import FACTS
from mcrc.errors import KnowledgeError, Problem
from mcrc.knowledge.compile import compiled_tables
from mcrc.knowledge.definitions import Definitions, parse_definitions
from mcrc.knowledge.expr import compile_expr, conjuncts, facts_of
from mcrc.knowledge.model import (
    SECTIONS,
    KnowledgeBase,
    Row,
    Table,
)
from mcrc.knowledge.parse_rules import parse_caveats, parse_constraints, parse_indications, parse_invariants
from mcrc.knowledge.parse_sources import _check_vocabulary, _check_vocabulary_data, parse_sources
from mcrc.knowledge.parse_tables import parse_cites, parse_condition, parse_table_file
from mcrc.knowledge.presumptions import parse_presumptions
from mcrc.knowledge.reading import _Collector, read_yaml
from mcrc.knowledge.reviews import REVIEWS_FILE, build_book, parse_reviews, row_version
from mcrc.vocabulary import (
    Vocabulary,
    merge_vocabulary_data,
    parse_vocabulary,
    vocabulary_files,
)

Path_ = tuple[Any, ...]

__all__ = ["default_data_dir", "load_knowledge_dir"]


def default_data_dir() -> Path:
    return Path(str(resources.files("mcrc.knowledge").joinpath("data")))


def load_knowledge_dir(data_dir: Path | str | None = None) -> KnowledgeBase:
    """Load every knowledge file from a directory (the packaged one by default)."""
    root = Path(data_dir) if data_dir else default_data_dir()
    digest = hashlib.sha256()
    problems: list[Problem] = []

    def read(name: str) -> str:
        path = root / name
        if not path.is_file():
            raise KnowledgeError([Problem(str(path), "missing knowledge file")])
        text = path.read_text(encoding="utf-8")
        digest.update(name.encode() + b"\0" + text.encode())
        return text

    sources, problems = parse_sources(read("sources.yaml"), "sources.yaml")
    if problems:
        raise KnowledgeError(problems)
    parts = []
    for path in vocabulary_files(root):
        data, lines = read_yaml(read(path.name), path.name)
        problems += _check_vocabulary_data(data, lines, path.name)
        parts.append((path.name, data))
    vocab_data, duplicates = merge_vocabulary_data(parts)
    problems += [Problem(d.split(":")[0], d.split(": ", 1)[1]) for d in duplicates]
    if problems:
        raise KnowledgeError(problems)
    vocab = parse_vocabulary(vocab_data)
    problems += _check_vocabulary(vocab)
    definitions: Definitions = parse_definitions(read_yaml(read("definitions.yaml"), "definitions.yaml")[0] or {})
    for spec in FACTS.values():
        if spec.definition and spec.definition not in definitions.items:
            problems.append(Problem("definitions.yaml", f"fact {spec.name} implements missing definition "
                                                         f"{spec.definition!r}"))
    tables: list[Table] = []
    for path in sorted((root / "tables").glob("*.yaml")):
        name = f"tables/{path.name}"
        t, p = parse_table_file(read(name), name, vocab, sources)
        tables += t
        problems += p
    invariants, p = parse_invariants(read("safety.yaml"), "safety.yaml", vocab, sources)
    problems += p
    constraints, p = parse_constraints(read("constraints.yaml"), "constraints.yaml")
    problems += p
    # caveats.yaml is optional (a knowledge base without caveat rules has none)
    caveats, p = parse_caveats(read("caveats.yaml"), "caveats.yaml", vocab, sources) \
        if (root / "caveats.yaml").is_file() else ([], [])
    problems += p
    # indications.yaml is optional too (without it no newer option is ever shown as the current standard)
    indications, p = parse_indications(read("indications.yaml"), "indications.yaml", vocab, sources) \
        if (root / "indications.yaml").is_file() else ({}, [])
    problems += p
    # presumptions.yaml is optional (without it there is no provisional answer, only the strict one)
    presumptions: list = []
    if (root / "presumptions.yaml").is_file():
        data, lines = read_yaml(read("presumptions.yaml"), "presumptions.yaml")
        pc = _Collector("presumptions.yaml", lines)
        presumptions = parse_presumptions(data, pc, sources, parse_condition, parse_cites)
        problems += pc.problems
    seen_tables: set[str] = set()
    rows: dict[str, Row] = {}
    for t in tables:
        if t.id in seen_tables:
            problems.append(Problem(f"{t.file}:{t.line}", f"duplicate table id {t.id}"))
        seen_tables.add(t.id)
        for r in t.rows:
            if r.id in rows:
                problems.append(Problem(f"{r.file}:{r.line}", f"duplicate row id {r.id}"))
            rows[r.id] = r
    if problems:
        raise KnowledgeError(problems)
    compiled = tuple(_compile_table(t, vocab) for t in tables)
    rows = {r.id: r for t in compiled for r in t.rows}
    version = digest.hexdigest()[:12]
    # reviews.yaml is optional and not part of the version (decision record 0029): reviews are about the rows
    row_versions = {rid: r.version for rid, r in rows.items()}
    entries = []
    if (root / REVIEWS_FILE).is_file():
        data, lines = read_yaml((root / REVIEWS_FILE).read_text(encoding="utf-8"), REVIEWS_FILE)
        entries, p = parse_reviews(data, lines, REVIEWS_FILE, row_versions)
        if p:
            raise KnowledgeError(p)
    kb = KnowledgeBase(
        version=version, tables=compiled, vocabulary=vocab, definitions=definitions,
        sources=sources, invariants=tuple(invariants), rows=rows, constraints=tuple(constraints),
        caveats=tuple(caveats), indications=indications, presumptions=tuple(presumptions),
        reviews=build_book(version, row_versions, entries),
        trace_dir=root / "trace",
    )
    compiled_tables(kb)  # the Python backend: generated code per table, built once here (decision record 0047)
    return kb


def _terms(row: Row, vocab: Vocabulary) -> list[Any]:
    """The vocabulary terms a row's outputs stand for (part of the row's version): the meaning of its codes."""
    wanted: list[tuple[str, str]] = []
    for st in row.strategies:
        for step in st.steps:
            wanted.append(("actions", step.code))
            wanted += [("regimens", r) for r in step.regimens]
    for section, items in row.outputs.items():
        wanted += [(SECTIONS[section], i.code) for i in items]
    if row.position is not None:
        wanted += [("topics", row.position.topic), ("stances", row.position.stance)]
    for section, code in list(wanted):
        if section == "regimens" and vocab.has("regimens", code):
            wanted += [("drugs", d) for d in vocab.get("regimens", code).drugs]
    out = []
    for section, code in sorted(set(wanted)):
        t = vocab.get(section, code)
        out.append([section, code, t.label, t.definition, t.klass, list(t.drugs), t.meta])
    return out


def _compile_table(t: Table, vocab: Vocabulary) -> Table:
    rows = []
    for r in t.rows:
        checks = tuple((e, e.text(), compile_expr(e)) for e in conjuncts(r.when))
        rows.append(replace(r, checks=checks, fns=tuple(c[2] for c in checks),
                            check_facts=tuple(frozenset(facts_of(c[0])) for c in checks), all_codes=tuple(r.codes()),
                            version=row_version(r.version, _terms(r, vocab))))
    return replace(t, rows=tuple(rows), applies_check=compile_expr(t.applies),
                   applies_facts=frozenset(facts_of(t.applies)))
