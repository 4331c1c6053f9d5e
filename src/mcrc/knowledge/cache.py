"""The packaged knowledge base kept on disk between runs, keyed by the digest of its files and of mcrc's code.

Loading the YAML, validating it and compiling the generated Python takes about half a second; a command that
assesses one patient should not pay that every time (issue 23, decision record 0049). After a load from the
files, the loaded `KnowledgeBase` is pickled with the code objects of the Python generated for it
(mcrc.knowledge.compile) into `<cache dir>/kb-<where>-<key>.pickle`, where `key` is a digest of:

- the bytes of every file under the knowledge directory (tables, vocabulary, reviews, the traceability matrix);
- the path, size and modification time of every module of the `mcrc` package (a change of code, even one that
  leaves the YAML alone, may change what the loader builds);
- the Python version and the pickle protocol.

Any change of a file gives another key, so a stale entry is never read; it is replaced by the next write. A cache
entry that cannot be read (corrupt, truncated, written by another version, not a knowledge base) is ignored and
rebuilt from the files, never an error: the cache only saves time. The closures the loader attaches to conditions
(`mcrc.knowledge.expr.compile_expr`) are pickled as their code and captured values and rebuilt the same; the
generated code is regenerated from the knowledge base as at load, reusing the cached code object only for a
byte-identical source (so what runs is what the files say, the compile step alone is skipped).

Where: `$MCRC_CACHE_DIR`, else `$XDG_CACHE_HOME/mcrc`, else `~/.cache/mcrc`. `MCRC_KB_CACHE=off` turns it off.
The entry is the user's own file (like their virtual environment): the folder is created readable by them only.
"""

from __future__ import annotations

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
    where = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
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


def _generated(kb: KnowledgeBase) -> list[tuple[str, bytes]]:
    """The Python generated for `kb` at load, as (source, marshalled code object)."""
    ck = gen.compiled(kb)
    units = [(ck.evaluate.__code__.co_filename, ck.source)]
    units += [(t.fired.__code__.co_filename, t.source) for t in ck.tables]
    return [(src, marshal.dumps(compile(src, name, "exec"))) for name, src in units]


def write(kb: KnowledgeBase, data_dir: Path, directory: Path, key: str) -> Path | None:
    """Keep `kb` under `directory`; returns the entry, or None when it could not be written (nothing breaks)."""
    try:
        buf = io.BytesIO()
        _Pickler(buf, protocol=_PROTOCOL).dump((FORMAT, key, kb, _generated(kb)))
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = _entry(directory, data_dir, key)
        fd, tmp = tempfile.mkstemp(prefix=".kb-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, target)  # atomic: a concurrent reader sees the old entry or the whole new one
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        prefix = target.name.rsplit("-", 1)[0] + "-"
        for old in directory.glob(prefix + "*.pickle"):  # earlier versions of the same knowledge directory
            if old != target:
                old.unlink(missing_ok=True)
        return target
    except (OSError, pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
        return None


def read(data_dir: Path, directory: Path, key: str) -> KnowledgeBase | None:
    """The kept knowledge base for `key`, or None (no entry, or one that cannot be used)."""
    path = _entry(directory, data_dir, key)
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        fmt, stored_key, kb, generated = pickle.loads(blob)
        if fmt != FORMAT or stored_key != key or not isinstance(kb, KnowledgeBase):
            return None
        codes = {src: marshal.loads(code) for src, code in generated}
    except Exception:  # a corrupt or foreign entry: any error of unpickling means "not usable", never a failure
        return None
    gen.PRECOMPILED.update(codes)
    try:
        gen.compiled_tables(kb)  # the generated code, as at load; the cached code objects used for identical source
    finally:
        gen.PRECOMPILED.clear()
    return kb


def load(data_dir: Path, build: Callable[[Path], KnowledgeBase],
         environ: dict[str, str] | os._Environ = os.environ) -> KnowledgeBase:
    """The knowledge base of `data_dir`: from the cache when an entry for its current files exists, else built
    with `build` (whose errors pass through unchanged) and kept for the next run."""
    directory = cache_dir(environ)
    if directory is None:
        return build(data_dir)
    try:
        key = cache_key(data_dir)
    except OSError:
        return build(data_dir)
    kb = read(data_dir, directory, key)
    if kb is None:
        kb = build(data_dir)
        write(kb, data_dir, directory, key)
    return kb
