"""Knowledge files read as YAML with the line of every key, and the collector that turns a data path into a
problem at file:line (what every parser reports through)."""

from __future__ import annotations

from typing import Any

import yaml

from mcrc.errors import KnowledgeError, Problem

Path_ = tuple[Any, ...]



# --- YAML with line numbers -----------------------------------------------------------------------

def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int], dups: list[tuple[Path_, int]]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            k = key.value
            if k in seen:  # YAML would silently keep the last one, dropping a condition
                dups.append(((*path, k), key.start_mark.line + 1))
            seen.add(k)
            out[(*path, k)] = key.start_mark.line + 1
            _lines(value, (*path, k), out, dups)
            out[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out, dups)


# libyaml's parser (bundled with PyYAML's wheels) is several times faster than the pure-Python one and reports
# the same marks; the safe constructor is the same either way.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark else file
        raise KnowledgeError([Problem(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    lines: dict[Path_, int] = {}
    dups: list[tuple[Path_, int]] = []
    if node is not None:
        _lines(node, (), lines, dups)
    if dups:
        raise KnowledgeError([Problem(f"{file}:{line} ({'.'.join(map(str, p))})",
                                      "duplicate key: YAML keeps only the last one; combine them with `all: [...]`")
                              for p, line in dups])
    return data, lines


class _Collector:
    """Collects problems for one file, turning a data path into file:line."""

    def __init__(self, file: str, lines: dict[Path_, int]):
        self.file, self.lines, self.problems = file, lines, []

    def line(self, path: Path_) -> int | None:
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get(())

    def add(self, path: Path_, message: str, allowed: str | None = None) -> None:
        line = self.line(path)
        dotted = ".".join(str(x) for x in path)
        where = f"{self.file}:{line}" if line else self.file
        self.problems.append(Problem(f"{where} ({dotted})" if dotted else where, message, allowed))
