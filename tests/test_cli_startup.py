"""Start-up of the command line (issue 23 item 3, decision record 0049): what a command imports, the lazily loaded
command groups, and the knowledge base kept on disk between runs (keyed by its files and mcrc's code, a bad entry
rebuilt, the compiled engine giving the same answers from it)."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mcrc.knowledge import cache, default_data_dir, load_knowledge_dir
from mcrc.knowledge import compile as gen
from tests.kbcopy import LUNG, kb_copy

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "22-lung-liver-ovary-all-resectable.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
ROW = "lung.route.table2_rectal_advanced"

# what the everyday commands must not load: the store, the web app and API, cohort engines, Spark, report text
# extraction, PDF, the MCP SDK
FORBIDDEN = ("mcrc.store", "mcrc.web", "mcrc.api", "mcrc.cohort", "mcrc.extract", "mcrc.mcp_server", "sqlalchemy",
             "alembic", "fastapi", "starlette", "jinja2", "uvicorn", "polars", "duckdb", "pyspark", "spacy",
             "medspacy", "weasyprint", "pypdfium2", "pydyf", "mcp")

# runs `mcrc ARGS...` as the console script does, then writes the names of every imported module to $MODULES_OUT
RUNNER = """
import atexit, json, os, sys
def _dump():
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(_dump)
sys.argv = ["mcrc", *sys.argv[1:]]
from mcrc.cli import main
main()
"""


def _run(tmp_path: Path, args: list[str], cache_dir: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    out = tmp_path / "modules.json"
    out.unlink(missing_ok=True)
    environ = {**os.environ, "MODULES_OUT": str(out), cache.CACHE_DIR_ENV: str(cache_dir), "COLUMNS": "120", **env}
    environ.pop(cache.SWITCH_ENV, None)
    r = subprocess.run([sys.executable, "-c", RUNNER, *args], capture_output=True, text=True, cwd=ROOT, env=environ,
                       timeout=120)
    return r, json.loads(out.read_text())


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m in FORBIDDEN or m.startswith(tuple(f + "." for f in FORBIDDEN))]


@pytest.mark.parametrize("args", [
    ["--help"], ["recommend", str(EXAMPLE)], ["recommend", str(EXAMPLE), "-f", "json"],
    ["recommend", str(EXAMPLE), "-f", "md"], ["kb"], ["kb", "show", ROW], ["kb", "facts"], ["kb", "--help"],
    ["vocab"], ["vocab", "-s", "actions"],
], ids=lambda a: " ".join(a).replace(str(EXAMPLE), "EXAMPLE"))
def test_everyday_commands_import_nothing_of_the_store_web_cohorts_or_pdf(tmp_path, args):
    cache_dir = tmp_path / "cache"
    for run in ("cold cache", "warm cache"):
        r, modules = _run(tmp_path, args, cache_dir)
        assert r.returncode == 0, r.stderr
        assert _heavy(modules) == [], f"{run}: `mcrc {' '.join(args)}` imported {_heavy(modules)}"
        if run == "warm cache":  # the knowledge base comes from the cache: no YAML reading or validation
            assert "mcrc.knowledge.loader" not in modules
    if args[0] == "recommend":  # the runner sees what a command does import
        assert "mcrc.engine" in modules and "mcrc.render" in modules


def test_the_check_sees_a_group_that_needs_the_store(tmp_path):
    r, modules = _run(tmp_path, ["db", "--help"], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "sqlalchemy" in modules and "mcrc.store.cli.users" in modules
    r, modules = _run(tmp_path, ["cds", "--help"], tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    assert "mcrc.api.cds_cli" in modules


# ---- the lazy groups --------------------------------------------------------------------------------------------

def _lazy_groups():
    from mcrc.cli import DemoGroup, RootGroup
    from mcrc.cli.kb import KbGroup

    return [RootGroup, DemoGroup, KbGroup]


def test_every_lazy_entry_is_listed_with_the_help_of_the_command_it_loads():
    from mcrc.cli.lazy import load

    for group in _lazy_groups():
        assert set(group.lazy) <= set(group.order), group.__name__
        for name, spec in group.lazy.items():
            cmd = load(name, spec)
            assert cmd.name == name
            assert cmd.help == spec.help, f"{group.__name__}.lazy[{name!r}]: the help differs from the command's"


def test_help_pages_are_the_same_with_every_group_loaded(capsys, monkeypatch):
    """`mcrc --help`, `mcrc kb --help` and `mcrc demo --help` list the lazy entries as the loaded commands would."""
    import typer

    from mcrc.cli import app

    monkeypatch.setenv("COLUMNS", "120")
    group = typer.main.get_group(app)

    def page(*args: str) -> str:
        with pytest.raises(SystemExit) as stop:
            group.main([*args, "--help"], prog_name="mcrc")
        assert stop.value.code == 0
        return capsys.readouterr().out

    pages = {args: page(*args) for args in ((), ("kb",), ("demo",))}
    ctx = typer.Context(group)
    loaded = 0
    for name in group.list_commands(ctx):  # load every lazy entry into this group
        cmd = group.get_command(ctx, name)
        for sub in getattr(cmd, "lazy", {}):
            loaded += cmd.get_command(ctx, sub) is cmd.commands[sub]
    loaded += sum(name in group.commands for name in group.lazy)
    assert loaded == len(group.lazy) + 2  # the root's lazy groups, kb reviews and demo seed
    for args, before in pages.items():
        assert "Commands" in before and page(*args) == before, args


def test_a_mistyped_command_is_told_the_close_names_of_lazy_groups_too(tmp_path):
    r, modules = _run(tmp_path, ["cohrt"], tmp_path / "cache")
    assert r.returncode == 2
    assert "No such command 'cohrt'. Did you mean 'cohort'?" in r.stderr
    assert "Traceback" not in r.stderr and _heavy(modules) == []


# ---- the knowledge-base cache -----------------------------------------------------------------------------------

def _env(tmp_path: Path) -> dict[str, str]:
    return {cache.CACHE_DIR_ENV: str(tmp_path / "cache")}


def _entries(tmp_path: Path, suffix: str = ".pickle") -> list[Path]:
    return sorted((tmp_path / "cache").glob(f"kb-*{suffix}"))


def _no_build(_):
    raise AssertionError("built from the files, not read from the cache")


def test_cache_dir_from_the_environment(monkeypatch, tmp_path):
    assert cache.cache_dir({cache.CACHE_DIR_ENV: str(tmp_path)}) == tmp_path
    assert cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "mcrc"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache.cache_dir({}) == tmp_path / ".cache" / "mcrc"
    for off in ("off", "0", "no", "false", "OFF"):
        assert cache.cache_dir({cache.SWITCH_ENV: off, cache.CACHE_DIR_ENV: str(tmp_path)}) is None


def test_kept_knowledge_base_equals_the_one_loaded_from_the_files(tmp_path):
    env = _env(tmp_path)
    built = cache.load(default_data_dir(), load_knowledge_dir, env)
    [entry] = _entries(tmp_path)
    kept = cache.load(default_data_dir(), _no_build, env)
    assert kept is not built
    assert kept == built and kept.version == built.version
    assert list(kept.rows) == list(built.rows) and [t.id for t in kept.tables] == [t.id for t in built.tables]
    for a, b in zip(kept.rows.values(), built.rows.values(), strict=True):
        assert a.version == b.version and a.all_codes == b.all_codes and a.check_facts == b.check_facts
        assert len(a.fns) == len(b.fns) and [c[1] for c in a.checks] == [c[1] for c in b.checks]
        assert all(a.fns[i] is a.checks[i][2] for i in range(len(a.fns)))  # shared as the loader shares them
    assert kept.rows[ROW] is kept.table(kept.rows[ROW].table_id).rows[[r.id for r in kept.table(
        kept.rows[ROW].table_id).rows].index(ROW)]
    assert kept.review_book.counts() == built.review_book.counts()
    assert gen.compiled(kept).source == gen.compiled(built).source
    assert entry.stat().st_mode & 0o077 == 0 and (tmp_path / "cache").stat().st_mode & 0o077 == 0


def test_every_example_gets_the_same_answer_from_the_kept_knowledge_base(tmp_path):
    """Compiled (the default) and interpreted, from the cached knowledge base, against the one built from the files:
    the whole Assessment, trace, provisional answer and branches included, over every example."""
    from mcrc.engine import assess
    from mcrc.render import render_json

    env = _env(tmp_path)
    built = cache.load(default_data_dir(), load_knowledge_dir, env)
    kept = cache.load(default_data_dir(), _no_build, env)
    assert EXAMPLES
    for path in EXAMPLES:
        data = json.loads(path.read_text(encoding="utf-8"))
        want = render_json(assess(data, kb=built), trace=True)
        assert render_json(assess(data, kb=kept), trace=True) == want, path.name
        assert render_json(assess(data, kb=kept, compiled=False), trace=True) == want, path.name


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "not a knowledge base", "another key",
                                    "a folder"])
def test_a_bad_entry_is_ignored_and_rebuilt(tmp_path, damage):
    env = _env(tmp_path)
    built = cache.load(default_data_dir(), load_knowledge_dir, env)
    [entry] = _entries(tmp_path)
    blob = entry.read_bytes()
    entry.unlink()
    if damage == "garbage":
        entry.write_bytes(b"\x80\x05not a pickle at all" * 100)
    elif damage == "truncated":
        entry.write_bytes(blob[: len(blob) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "not a knowledge base":
        entry.write_bytes(pickle.dumps((cache.FORMAT, entry.stem.rsplit("-", 1)[1], {"rows": []})))
    elif damage == "another key":
        buf = io.BytesIO()
        cache._Pickler(buf).dump((cache.FORMAT, "0" * 32, built))  # a whole knowledge base, under another key
        entry.write_bytes(buf.getvalue())
    else:
        entry.mkdir()
    calls = []

    def build(d):
        calls.append(d)
        return load_knowledge_dir(d)

    again = cache.load(default_data_dir(), build, env)
    assert calls == [default_data_dir()], "the bad entry was used"
    assert again == built
    if damage != "a folder":  # rebuilt: the next run reads it
        assert cache.load(default_data_dir(), _no_build, env) == built


def test_a_bad_code_file_is_ignored(tmp_path):
    env = _env(tmp_path)
    cache.load(default_data_dir(), load_knowledge_dir, env)
    code = _entries(tmp_path)[0].with_suffix(".code")
    for blob in (b"garbage", b"", __import__("marshal").dumps({"x": 1})):
        code.write_bytes(blob)
        kb = cache.load(default_data_dir(), _no_build, env)
        assert kb.version


def test_a_changed_knowledge_file_gives_a_new_entry(tmp_path):
    env = _env(tmp_path)
    data = kb_copy(tmp_path, [])
    first = cache.load(data, load_knowledge_dir, env)
    [old] = _entries(tmp_path)
    assert cache.load(data, _no_build, env) == first
    row = next(r for r in first.rows.values() if r.file == LUNG)
    text = (data / LUNG).read_text(encoding="utf-8")
    assert text.count(f"title: {row.title}") == 1
    (data / LUNG).write_text(text.replace(f"title: {row.title}", "title: A changed title"), encoding="utf-8")
    changed = cache.load(data, load_knowledge_dir, env)
    assert changed.rows[row.id].title == "A changed title" and changed.version != first.version
    [new] = _entries(tmp_path)
    assert new != old, "the entry of the earlier files is replaced"
    # a file outside the knowledge base's version (reviews.yaml) changes the key too: its reviews are in the entry
    (data / "reviews.yaml").write_text((data / "reviews.yaml").read_text(encoding="utf-8") + "\n# a comment\n",
                                       encoding="utf-8")
    assert cache.cache_key(data) != new.stem.rsplit("-", 1)[1]


def test_a_changed_module_gives_a_new_key(tmp_path, monkeypatch):
    before = cache.cache_key(default_data_dir())
    module = tmp_path / "mcrc"
    module.mkdir()
    (module / "x.py").write_text("X = 1\n")
    monkeypatch.setattr(cache, "_PACKAGE", module)
    first = cache.cache_key(default_data_dir())
    assert first != before
    os.utime(module / "x.py", ns=(1, 1))
    assert cache.cache_key(default_data_dir()) != first


def test_a_malformed_knowledge_base_is_reported_not_cached(tmp_path):
    from mcrc.errors import KnowledgeError

    data = kb_copy(tmp_path, [(LUNG, "  - id: lung.goal\n", "  - id: lung.goal\n    hit: whichever\n")])
    with pytest.raises(KnowledgeError):
        cache.load(data, load_knowledge_dir, _env(tmp_path))
    assert _entries(tmp_path) == []


def test_switched_off_or_unwritable_the_cache_still_loads(tmp_path):
    kb = cache.load(default_data_dir(), load_knowledge_dir, {cache.SWITCH_ENV: "off",
                                                           cache.CACHE_DIR_ENV: str(tmp_path / "cache")})
    assert kb.version and not (tmp_path / "cache").exists()
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    kb = cache.load(default_data_dir(), load_knowledge_dir, {cache.CACHE_DIR_ENV: str(blocked / "cache")})
    assert kb.version


def test_generated_code_is_the_same_in_every_process():
    """The code generated from the knowledge base does not depend on the process's string hashes, so the compiled
    code kept in the cache is the code this process would compile."""
    code = ("import hashlib, mcrc.knowledge.compile as g; from mcrc.knowledge import load_knowledge_dir as l; "
            "c = g.compiled(l(None)); print(hashlib.sha256((c.source + ''.join(t.source for t in c.tables))"
            ".encode()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(digests) == 1


def test_a_warm_run_compiles_no_generated_code(tmp_path):
    """The second `mcrc recommend` takes the tables' and the constraint checks' compiled code from the cache."""
    spy = ("import builtins, sys; seen = []; real = builtins.compile\n"
           "def spy(src, name, *a, **k):\n"
           "    seen.append(str(name)); return real(src, name, *a, **k)\n"
           "builtins.compile = spy\n"
           "import atexit; atexit.register(lambda: sys.stderr.write('COMPILED %d\\n' % sum(n.startswith('<mcrc') "
           "for n in seen)))\n"
           "sys.argv = ['mcrc', 'recommend', sys.argv[1]]\nfrom mcrc.cli import main\nmain()\n")
    env = {**os.environ, cache.CACHE_DIR_ENV: str(tmp_path / "cache")}
    env.pop(cache.SWITCH_ENV, None)
    counts = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", spy, str(EXAMPLE)], capture_output=True, text=True, cwd=ROOT,
                           env=env, timeout=120)
        assert r.returncode == 0, r.stderr
        counts.append(int(r.stderr.rsplit("COMPILED ", 1)[1].split()[0]))
    assert counts[0] > 0 and counts[1] == 0, counts


def test_vocabulary_read_with_libyaml_is_the_one_read_by_pure_python():
    from mcrc.vocabulary import load_vocabulary, merge_vocabulary_data, parse_vocabulary, vocabulary_files

    parts = [(p.name, yaml.load(p.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))
             for p in vocabulary_files(default_data_dir())]
    assert load_vocabulary() == parse_vocabulary(merge_vocabulary_data(parts)[0])


def test_a_group_whose_module_cannot_be_imported_fails_with_a_message():
    import typer
    from typer.testing import CliRunner

    from mcrc.cli.lazy import Lazy, LazyGroup

    class Broken(LazyGroup):
        order = ("gone", "here")
        lazy = {"gone": Lazy("mcrc.no_such_module:app", "A group whose module is not installed.")}  # noqa: RUF012

    app = typer.Typer(cls=Broken, add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def root() -> None:
        """A group with a lazy entry."""

    @app.command()
    def here() -> None:
        """A command that works."""

    listing = CliRunner().invoke(app, ["--help"])
    assert listing.exit_code == 0 and "A group whose module is not installed." in listing.output
    r = CliRunner().invoke(app, ["gone", "x"])
    assert r.exit_code == 1 and (r.exception is None or isinstance(r.exception, SystemExit)), r.exception
    assert "cannot start: ModuleNotFoundError: No module named 'mcrc.no_such_module'" in r.output
    assert "Traceback" not in r.output
