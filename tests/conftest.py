"""The test run keeps its knowledge-base cache to itself: MCRC_CACHE_DIR points at a folder made for the run (unless
the caller set one), so tests, and the `mcrc` processes they start, neither read nor write the user's cache."""

from __future__ import annotations

import os
import shutil
import tempfile

_MADE: list[str] = []


def pytest_configure(config) -> None:
    if "MCRC_CACHE_DIR" not in os.environ:
        _MADE.append(tempfile.mkdtemp(prefix="mcrc-test-cache-"))
        os.environ["MCRC_CACHE_DIR"] = _MADE[0]


def pytest_unconfigure(config) -> None:
    for folder in _MADE:
        shutil.rmtree(folder, ignore_errors=True)
        if os.environ.get("MCRC_CACHE_DIR") == folder:
            del os.environ["MCRC_CACHE_DIR"]
    _MADE.clear()
