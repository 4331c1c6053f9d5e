"""The mcrc REST API (FastAPI): `create_app(Settings(...))`; serve it with any ASGI server (uvicorn)."""

from mcrc.api.app import Settings, create_app

__all__ = ["Settings", "create_app"]
