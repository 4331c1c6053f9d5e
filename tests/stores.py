"""A migrated store with an admin and one clinician holding an API token: the set-up server tests share."""

from __future__ import annotations

from mcrc.store.api import Store


def store_with_clinician(url: str) -> str:
    """Migrate the store at `url`, add `adm` (admin) and `cli` (clinician); the raw API token of `cli`."""
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        s.add_user("cli", "clinician", actor="adm")
        return s.create_token("cli").token
