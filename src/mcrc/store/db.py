"""Engines for the two backends, with the settings the store relies on.

SQLite: WAL journal, synchronous=FULL (a committed decision survives a power loss), foreign keys
on, a busy timeout, and write transactions that start with BEGIN IMMEDIATE so that concurrent
writers queue instead of failing half-way. PostgreSQL: plain psycopg 3; writers serialise on the
audit head row (SELECT ... FOR UPDATE), see `Store`.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

DEFAULT_URL = "sqlite:///mcrc.db"
BUSY_TIMEOUT_MS = 30_000
WRITE = "mcrc_write"  # execution option: this connection's transaction will write


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("MCRC_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None, echo: bool = False) -> Engine:
    u = make_url(database_url(url))
    if u.get_backend_name() == "sqlite":
        engine = create_engine(u, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _sqlite_events(engine)
        return engine
    return create_engine(u, echo=echo, pool_pre_ping=True)


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy (not the sqlite3 module) decide where transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")
