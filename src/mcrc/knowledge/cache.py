"""The packaged knowledge base kept on disk between runs, keyed by the digest of its files and of mcrc's code.

Loading the YAML, validating it and compiling the generated Python takes about half a second; a command that
assesses one patient should not pay that every time (issue 23, decision record 0049). After a load from the
files, the loaded `KnowledgeBase` is pickled into `<cache dir>/kb-<where>-<key>.pickle` (`where`: the knowledge
directory and the Python; `key` a digest of:

- the bytes of every file under the knowledge directory (tables, vocabulary, reviews, the traceability matrix);
- the path, size and modification time of every module of the `mcrc` package (a change of code, even one that
  leaves the YAML alone, may change what the loader builds);
- the Python version and the pickle protocol).

Any change of a file gives another key, so a stale entry is never read; it is replaced by the next write. An
entry that cannot be read (corrupt, truncated, written for another key, not a knowledge base) is ignored and
rebuilt from the files, never an error: the cache only saves time. The closures the loader attaches to conditions
(`mcrc.knowledge.expr.compile_expr`) are pickled as their code and captured values and rebuilt the same. The
Python generated from the knowledge base (mcrc.knowledge.compile) is generated again as at load; only the compile
step is taken from `<entry>.code` (code objects by source, used for a byte-identical source only), which collects
what was compiled in the runs before. So what runs is what the files say.

Where: `$MCRC_CACHE_DIR`, else `$XDG_CACHE_HOME/mcrc`, else `~/.cache/mcrc`. `MCRC_KB_CACHE=off` turns it off.
The entry is the user's own file (like their virtual environment): the folder is created readable by them only.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import marshal
import os
import pickle
import sys
import tempfile
import types
from collections.abc import Callable
from pathlib import Path

from mcrc.knowledge import compile as gen
from mcrc.knowledge import expr
from mcrc.knowledge.model import KnowledgeBase

CACHE_DIR_ENV = "MCRC_CACHE_DIR"
SWITCH_ENV = "MCRC_KB_CACHE"  # "off" (or 0, no, false): always load from the files
FORMAT = 1  # bump when the layout of an entry changes
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_PACKAGE = Path(__file__).resolve().parent.parent  # src/mcrc


def cache_dir(environ: dict[str, str] | os._Environ = os.environ) -> Path | None:
    """Where entries are kept, or None when the cache is switched off."""
    if environ.get(SWITCH_ENV, "").strip().lower() in ("off", "0", "no", "false"):
        return None
    if environ.get(CACHE_DIR_ENV):
        return Path(environ[CACHE_DIR_ENV])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcrc"


def _files(root: Path) -> list[tuple[str, str]]:
    """Every file under `root` as (path relative to it, full path), in a stable order."""
    out: list[tuple[str, str]] = []
    stack = [("", str(root))]
    while stack:
        rel, here = stack.pop()
        for entry in os.scandir(here):
            if entry.is_dir():
                if entry.name != "__pycache__":
                    stack.append((rel + entry.name + "/", entry.path))
            elif entry.is_file():
                out.append((rel + entry.name, entry.path))
    out.sort()
    return out


def cache_key(data_dir: Path) -> str:
    """The digest naming an entry: the knowledge files' bytes, mcrc's modules (path, size, mtime), Python."""
    h = hashlib.sha256()
    h.update(f"{FORMAT}\0{_PROTOCOL}\0{sys.version}\0{sys.implementation.cache_tag}\0".encode())
    for rel, path in _files(data_dir):
        with open(path, "rb") as f:
            data = f.read()
        h.update(f"d\0{rel}\0{len(data)}\0".encode())
        h.update(data)
    for rel, path in _files(_PACKAGE):
        if rel.endswith(".py"):
            st = os.stat(path)
            h.update(f"c\0{rel}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:32]


def _entry(directory: Path, data_dir: Path, key: str) -> Path:
    # one entry per knowledge directory and Python (a newer entry replaces the older one of the same pair)
    where = hashlib.sha256(f"{data_dir.resolve()}\0{sys.implementation.cache_tag}".encode()).hexdigest()[:8]
    return directory / f"kb-{where}-{key}.pickle"


# ---- the closures of mcrc.knowledge.expr.compile_expr, pickled as their code and captured values ---------------
_EXPR_CODE = [c for c in expr.compile_expr.__code__.co_consts if isinstance(c, types.CodeType)]
_EXPR_INDEX = {c: i for i, c in enumerate(_EXPR_CODE)}
_CMP_NAME = {id(fn): name for name, fn in expr._PY_CMP.items()}


def _closure(index: int, name: str, cells: tuple) -> Callable:
    code = _EXPR_CODE[index]
    return types.FunctionType(code, expr.__dict__, name, None, tuple(types.CellType(c) for c in cells))


def _comparison(name: str) -> Callable:
    return expr._PY_CMP[name]


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        if type(obj) is types.FunctionType:
            index = _EXPR_INDEX.get(obj.__code__)
            if index is not None:
                return _closure, (index, obj.__name__, tuple(c.cell_contents for c in obj.__closure__ or ()))
            if id(obj) in _CMP_NAME:
                return _comparison, (_CMP_NAME[id(obj)],)
        return NotImplemented  # everything else as pickle does it (a local function fails: nothing is written)


def _code_file(directory: Path, data_dir: Path, key: str) -> Path:
    return _entry(directory, data_dir, key).with_suffix(".code")


def _atomic_write(directory: Path, target: Path, data: bytes, create: bool = True) -> None:
    if create:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".kb-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)  # atomic: a concurrent reader sees the old file or the whole new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    stem = target.name.rsplit("-", 1)[0] + "-"
    for old in directory.glob(stem + "*" + target.suffix):  # earlier versions of the same knowledge directory
        if old != target:
            old.unlink(missing_ok=True)


def write(kb: KnowledgeBase, data_dir: Path, directory: Path, key: str) -> Path | None:
    """Keep `kb` under `directory`; returns the entry, or None when it could not be written (nothing breaks)."""
    try:
        buf = io.BytesIO()
        _Pickler(buf, protocol=_PROTOCOL).dump((FORMAT, key, kb))
        target = _entry(directory, data_dir, key)
        _atomic_write(directory, target, buf.getvalue())
        return target
    except (OSError, pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
        return None


def read(data_dir: Path, directory: Path, key: str) -> KnowledgeBase | None:
    """The kept knowledge base for `key`, or None (no entry, or one that cannot be used)."""
    try:
        blob = _entry(directory, data_dir, key).read_bytes()
    except OSError:
        return None
    try:
        fmt, stored_key, kb = pickle.loads(blob)
        if fmt != FORMAT or stored_key != key or not isinstance(kb, KnowledgeBase):
            return None
        gen.compiled_tables(kb)  # the generated code, as at load (its compiled code from the code file when kept)
    except Exception:  # a corrupt or foreign entry: any error of unpickling means "not usable", never a failure
        return None
    return kb


# ---- the code compiled from the knowledge base (mcrc.knowledge.compile), kept beside it ------------------------
# Python's compile step is most of the cost of the generated code (the tables at load, the constraint checks of the
# branches at the first assessment). What is compiled while a cached knowledge base is in use is recorded and, at
# exit, added to `<entry>.code` (a marshalled {source: code object}); the next run's compile step takes it from there
# for a byte-identical source. Only the code of that knowledge base is recorded, up to a bound.
MAX_CODE = 2_000  # code objects kept per entry (the packaged knowledge base has about 200)


class _Recorder(dict):
    names: frozenset[str] | None = None  # None until the knowledge base is known: everything is recorded

    def __setitem__(self, src: str, code: types.CodeType) -> None:
        name = code.co_filename
        if len(self) < MAX_CODE and (self.names is None or name in self.names or name.startswith(gen.SHARED_CODE)):
            super().__setitem__(src, code)


def _names(kb: KnowledgeBase) -> frozenset[str]:
    """The names compile.py gives the code of `kb`'s tables (checked against the code it compiles)."""
    names = {f"<mcrc knowledge {kb.version}>"}
    for t in kb.tables:
        names |= {f"<mcrc table {t.id}>", f"<mcrc table {t.id} rows>"}
    return frozenset(names)


def _read_code(path: Path) -> dict[str, types.CodeType]:
    try:
        codes = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    if not isinstance(codes, dict) or not all(isinstance(k, str) and isinstance(v, types.CodeType)
                                              for k, v in codes.items()):
        return {}
    return codes


_FLUSH: list[tuple[Path, Path, dict[str, types.CodeType], frozenset[str]]] = []


def _flush() -> None:
    """At exit: add the code compiled in this run to the code file of each knowledge base loaded through the cache."""
    recorded = gen.RECORDED or {}
    for directory, path, known, names in _FLUSH:
        new = {src: code for src, code in recorded.items() if src not in known
               and (code.co_filename in names or code.co_filename.startswith(gen.SHARED_CODE))}
        if not new:
            continue
        merged = {**_read_code(path), **new}
        if len(merged) > MAX_CODE:
            merged = {**known, **new} if len(known) + len(new) <= MAX_CODE else new
        with contextlib.suppress(OSError, ValueError):  # a folder removed meanwhile is not created again
            _atomic_write(directory, path, marshal.dumps(merged), create=False)
    _FLUSH.clear()


def load(data_dir: Path, build: Callable[[Path], KnowledgeBase],
         environ: dict[str, str] | os._Environ = os.environ) -> KnowledgeBase:
    """The knowledge base of `data_dir`: from the cache when an entry for its current files exists, else built
    with `build` (whose errors pass through unchanged) and kept for the next run."""
    directory = cache_dir(environ)
    if directory is None:
        return build(data_dir)
    try:
        key = cache_key(data_dir)
    except (OSError, ValueError):  # an unreadable file, a name that is not text: no cache, the files are read
        return build(data_dir)
    code_path = _code_file(directory, data_dir, key)
    codes = _read_code(code_path)
    gen.PRECOMPILED.update(codes)
    recorder = gen.RECORDED if isinstance(gen.RECORDED, _Recorder) else None
    if recorder is None:
        recorder = gen.RECORDED = _Recorder()
    earlier, recorder.names = recorder.names, None  # everything compiled while this one loads is recorded
    try:
        kb = read(data_dir, directory, key)
        if kb is None:
            kb = build(data_dir)
            write(kb, data_dir, directory, key)
    finally:
        recorder.names = earlier or frozenset()
    names = _names(kb)
    recorder.names |= names
    for src, code in list(recorder.items()):  # what was compiled meanwhile for another knowledge base
        if code.co_filename not in recorder.names and not code.co_filename.startswith(gen.SHARED_CODE):
            del recorder[src]
    if not _FLUSH:
        atexit.register(_flush)
    _FLUSH.append((directory, code_path, codes, names))
    return kb
