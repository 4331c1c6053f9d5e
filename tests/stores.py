"""Store set-ups the tests share: a store URL on either backend, and a migrated store with an admin and one
clinician holding an API token (the server tests)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from mcrc.store.api import Store


def store_with_clinician(url: str) -> str:
    """Migrate the store at `url`, add `adm` (admin) and `cli` (clinician); the raw API token of `cli`."""
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("cli", "clinician", actor="adm")
        return s.create_token("cli").token


@contextmanager
def backend_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL on `kind` ("sqlite" or "postgresql"): a file in tmp_path, or a new schema of the
    MCRC_TEST_POSTGRES database (dropped afterwards). Without that variable PostgreSQL is skipped, except in CI,
    where the PostgreSQL tests must run."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get("MCRC_TEST_POSTGRES")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("MCRC_TEST_POSTGRES is not set in CI: the PostgreSQL store tests must run there")
        pytest.skip("MCRC_TEST_POSTGRES not set (PostgreSQL store tests run in CI)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
