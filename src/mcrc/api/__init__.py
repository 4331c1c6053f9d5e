"""The mcrc REST API (FastAPI): `create_app(Settings(...))`; serve it with any ASGI server (uvicorn).

The app is imported on first use, so that commands needing only a small part of this package (`mcrc cds`) do not
pay for FastAPI at start-up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcrc.api.app import Settings, create_app

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mcrc.api import app

        return getattr(app, name)
    raise AttributeError(f"module 'mcrc.api' has no attribute {name!r}")
