"""The package map holds: every import between mcrc packages points inward, and no two packages import each other.

The map (README "Package map", DESIGN.md's data flow): base utilities at the bottom, then the core that turns a
patient into an answer, then what reads, stores or shows answers, then the servers, then the command line. A
package may import its own layer or any lower one, never a higher one, and the graph of packages has no cycle.
Imports inside functions count (they are dependencies all the same); imports under `if TYPE_CHECKING:` do not.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "mcrc"

LAYERS: dict[str, tuple[str, ...]] = {
    "base": ("errors", "logic", "strictjson", "lru", "console", "catalog", "vocabulary"),
    "core": ("patient", "facts", "knowledge", "engine", "<root>"),  # <root>: mcrc itself, the public API over the core
    "answers": ("render", "store", "fhir", "cohort", "verify", "extract"),
    "servers": ("config", "http", "problems", "api", "web", "mcp", "mcp_server"),
    "entry": ("cli",),
}
RANK = {unit: i for i, units in enumerate(LAYERS.values()) for unit in units}
CORE = set(LAYERS["base"]) | set(LAYERS["core"])


def unit_of(module: str) -> str:
    """The package (or top-level module) of mcrc a dotted module name belongs to; `<root>` for mcrc itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<root>"


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def import_edges(package: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(importing unit, imported unit) -> the files (with line) where the import is made."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        source = unit_of(module)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                    node.module == "mcrc" or node.module.startswith("mcrc.")):
                if node.module == "mcrc":  # `from mcrc import x`: a submodule, or a name of the root package
                    targets = [f"mcrc.{a.name}" if (package / a.name).is_dir() or (package / f"{a.name}.py").is_file()
                               else "mcrc" for a in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name == "mcrc" or a.name.startswith("mcrc.")]
            else:
                continue
            if node.lineno in skip:
                continue
            for target in targets:
                dest = unit_of(target)
                if dest != source:
                    edges[(source, dest)].append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return dict(edges)


def outward(edges: dict[tuple[str, str], list[str]]) -> list[str]:
    """Imports of a higher layer, and imports of anything but base and core from a core package."""
    bad = []
    for (src, dst), where in sorted(edges.items()):
        if src not in RANK or dst not in RANK:
            continue  # reported by the map test
        if RANK[dst] > RANK[src] or (src in CORE and dst not in CORE):
            bad.append(f"{src} -> {dst} ({', '.join(where)})")
    return bad


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan), each sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for src, dst in edges:
        graph[src].add(dst)
        graph.setdefault(dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def module_edges(package: Path = PACKAGE) -> dict[tuple[str, str], list[str]]:
    """(importing module, imported module) for every import between two modules of mcrc (a name imported from a
    package counts as an import of that package's __init__ unless it is a submodule)."""
    modules = {".".join(p.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__"): p
               for p in package.rglob("*.py")}
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if node.__class__ not in (ast.Import, ast.ImportFrom) or node.lineno in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level or not node.module or not node.module.startswith("mcrc"):
                    continue
                names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                         for a in node.names]
            else:
                names = [a.name for a in node.names if a.name.startswith("mcrc")]
            for name in names:
                while name not in modules and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name != module and name in modules:
                    edges[(module, name)].append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return dict(edges)


EDGES = import_edges()
MAX_LINES = 400


def test_every_package_is_on_the_map():
    units = {unit_of(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"))
             for p in PACKAGE.rglob("*.py")}
    assert units - set(RANK) == set(), "place new packages in LAYERS (and in the README's package map)"
    assert {"patient", "facts", "knowledge", "engine", "api", "web", "cli"} <= units


def test_every_import_points_inward():
    assert outward(EDGES) == []


def test_no_two_packages_import_each_other():
    assert cycles(EDGES) == []


def test_no_two_modules_import_each_other():
    """Not even lazily, inside a function: a module that needs another's name imports it, and that one does not
    import it back (shared parts live in a module both import)."""
    assert cycles(module_edges()) == []


def test_no_module_is_over_400_lines():
    """Rooms that fit: a module holds one thing (migrations aside, which are written once and never edited)."""
    big = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
           if "migrations" not in p.parts and (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_every_module_says_what_it_holds():
    """A docstring on every module (its first line says what the room holds; migrations aside)."""
    bare = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
            if "migrations" not in p.parts and not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert bare == []


def test_the_checks_find_a_cycle_and_an_outward_import():
    """The checks themselves fail on a broken graph (so the two tests above can fail)."""
    broken = {("knowledge", "facts"): ["a.py:1"], ("facts", "knowledge"): ["b.py:2"], ("engine", "web"): ["c.py:3"],
              ("web", "api"): ["d.py:4"], ("api", "web"): ["e.py:5"], ("render", "engine"): ["f.py:6"]}
    assert cycles(broken) == [["api", "web"], ["facts", "knowledge"]]
    assert outward(broken) == ["engine -> web (c.py:3)"]
    assert outward({("engine", "store"): ["g.py:7"]}) == ["engine -> store (g.py:7)"]


def test_the_edges_are_read_from_the_source(tmp_path):
    """A function-level import counts, a TYPE_CHECKING one does not, `from mcrc import name` of the root package
    is an import of the root."""
    pkg = tmp_path / "mcrc"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "web").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "web" / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mcrc.web import x\n"
        "def f():\n    from mcrc.web.page import y\n    from mcrc import assess\n")
    got = import_edges(pkg)
    assert got == {("engine", "web"): ["mcrc/engine/__init__.py:5"],
                   ("engine", "<root>"): ["mcrc/engine/__init__.py:6"]}


def test_the_public_api_loads_on_first_use():
    """`import mcrc` builds nothing of the engine (the CLI's help starts at once); every public name resolves to
    its home module's object, and a subpackage is an attribute as with an eager root."""
    import subprocess
    import sys

    code = ("import sys, mcrc; assert 'mcrc.engine' not in sys.modules and 'pydantic' not in sys.modules; "
            "import mcrc.engine, mcrc.errors, mcrc.facts, mcrc.knowledge, mcrc.patient; "
            "homes = (mcrc.engine, mcrc.errors, mcrc.facts, mcrc.knowledge, mcrc.patient); "
            "assert all(any(getattr(m, n, None) is getattr(mcrc, n) for m in homes) for n in mcrc.__all__); "
            "assert mcrc.render.__name__ == 'mcrc.render'; print(len(mcrc.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "16"
    import mcrc

    assert sorted(mcrc.__all__) == sorted(mcrc._HOME)  # every public name has a home, and only those
