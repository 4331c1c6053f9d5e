"""Alembic environment of the case store: one set of migrations for SQLite and PostgreSQL.

`Store.upgrade()` passes its own connection in `config.attributes["connection"]`; run from the
alembic command line, the URL comes from `sqlalchemy.url` or MCRC_DATABASE_URL.
"""

from __future__ import annotations

from alembic import context

from mcrc.store.db import make_engine
from mcrc.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():  # pragma: no cover - offline SQL generation is not used
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
