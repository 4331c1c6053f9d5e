"""Migrations of the store's schema (alembic upgrade, downgrade, the revision it is at)."""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError

from mcrc.store.base import StoreBase
from mcrc.store.errors import StoreError


class SchemaMixin(StoreBase):
    """The schema: migrations (in `migrations/`, unchanged) and the tables the database holds."""

    def _alembic_config(self):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(files("mcrc.store") / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations (alembic upgrade) on this store's database."""
        from alembic import command

        cfg = self._alembic_config()
        with self._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def downgrade(self, revision: str) -> None:
        from alembic import command

        cfg = self._alembic_config()
        with self._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def require_current(self) -> None:
        """Raise StoreError unless the schema is at the newest migration."""
        try:
            current = self.schema_revision()
        except DBAPIError as exc:
            raise StoreError(f"cannot open the database {self._safe_url()}: {exc.orig}") from None
        if current != self.head_revision():
            raise StoreError(f"the database {self._safe_url()} is at schema revision {current or '(empty)'}, "
                             f"not {self.head_revision()}: run `mcrc db upgrade`")

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())
