"""`mcrc serve` and `mcrc mcp`: the web page, REST API and CDS Hooks, and the Model Context Protocol server."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from mcrc.cli.common import guard, knowledge
from mcrc.console import EXIT_INPUT, err, out
from mcrc.console import fail as _fail


def serve(
    config: Path = typer.Option(None, "--config", help="TOML configuration file (default: $MCRC_CONFIG; "
                                                       "keys in docs/api.md)"),
    host: str = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, "--port", help="Port (default 8000)"),
    db: str = typer.Option(None, "--db", help="Store URL (default sqlite:///mcrc.db)"),
    open_assess: bool = typer.Option(None, "--open-assess/--closed-assess",
                                     help="Allow POST /api/v1/assess without a token (local use only)"),
    workers: int = typer.Option(None, "--workers", help="Server processes (default 1; set to the number of cores)"),
    public_url: str = typer.Option(None, "--public-url",
                                   help="The URL clients call (required with CDS Hooks issuers: the JWT audience)"),
) -> None:
    """Serve the web page, the REST API (/api/v1, OpenAPI at /openapi.json) and, when issuers are configured,
    CDS Hooks. Settings: file < MCRC_* environment < these flags. Tokens: `mcrc user token create NAME`."""
    import os

    import uvicorn

    from mcrc.api.app import create_app
    from mcrc.config import load_config

    flags = {"host": host, "port": port, "database_url": db, "open_assess": open_assess, "workers": workers,
             "public_url": public_url}
    cfg = guard(lambda: load_config(config, os.environ, flags))
    settings = guard(cfg.settings)
    out.print(f"mcrc on http://{cfg.host}:{cfg.port}/ (API: /api/v1, OpenAPI: /openapi.json)"
              + ("; CDS Hooks at /cds-services" if settings.cds else "")
              + (f"; {cfg.workers} workers" if cfg.workers > 1 else ""))
    if cfg.workers == 1:
        uvicorn.run(create_app(settings), host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
        return
    with _worker_environment(config, flags, cfg, settings) as env:
        os.environ.update(env)
        uvicorn.run("mcrc.api.app:app_from_environment", factory=True, workers=cfg.workers, host=cfg.host,
                    port=cfg.port, log_level="warning", access_log=False)


def mcp_server(
    kb_dir: Path = typer.Option(None, "--kb", help="A knowledge directory (default: the packaged one)"),
    http: bool = typer.Option(False, "--http", help="Streamable HTTP at /mcp instead of stdio, behind the REST API's "
                                                    "API tokens and request size limit"),
    config: Path = typer.Option(None, "--config", help="With --http: TOML configuration file, as for `mcrc serve`"),
    host: str = typer.Option(None, "--host", help="With --http: interface to listen on (default 127.0.0.1)"),
    port: int = typer.Option(None, "--port", help="With --http: port (default 8000, as `mcrc serve`: give another "
                                                  "to run both)"),
    db: str = typer.Option(None, "--db", help="With --http: the store holding the API tokens (default "
                                              "sqlite:///mcrc.db)"),
) -> None:
    """Serve the engine to AI assistants over the Model Context Protocol on standard input and output (an MCP
    client such as Claude Desktop or VS Code launches it): tools assess, explain_row, search_knowledge, vocabulary,
    patient_schema; resources mcrc://sources and mcrc://trace. Every answer names the engine and knowledge-base
    digest it comes from. See docs/mcp.md."""
    if not http and any(v is not None for v in (config, host, port, db)):
        _fail("--config, --host, --port and --db go with --http (the stdio server has no port and no tokens)",
              EXIT_INPUT)
    # a malformed knowledge base stops here (exit 3, file:line), before a client waits on it
    kb = knowledge(kb_dir)
    if not http:
        from mcrc.mcp_server import run_stdio  # the SDK is imported by this command only (CLI start-up time)

        with contextlib.suppress(KeyboardInterrupt):
            run_stdio(kb)
        return
    import os

    import uvicorn

    from mcrc.config import load_config
    from mcrc.mcp_server import MCP_PATH, http_app, log_to_stderr
    from mcrc.store.api import Store

    cfg = guard(lambda: load_config(config, os.environ, {"host": host, "port": port, "database_url": db}))
    settings = guard(cfg.settings)
    store = Store(settings.database_url, token_cache_seconds=settings.token_cache_seconds)
    log_to_stderr()
    asgi = http_app(kb, store.resolve_token, max_body_bytes=settings.max_body_bytes, host=cfg.host)
    err.print(f"mcrc MCP server on http://{cfg.host}:{cfg.port}{MCP_PATH} (the case store's API tokens; request "
              f"bodies up to {settings.max_body_bytes:,} bytes)", markup=False)
    try:
        uvicorn.run(asgi, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
    finally:
        store.close()


@contextlib.contextmanager
def _worker_environment(config: Path | None, flags: dict, cfg, settings):
    """What the workers of one `mcrc serve` must share, as MCRC_* variables (they read their settings from the
    environment): the configuration file, the flags, one secret key (a session signed by one worker is
    honoured by the others) and one CDS replay cache (a JWT replayed to another worker is still refused)."""
    import secrets
    import tempfile

    from mcrc.config import CONFIG_ENV, ENV

    env: dict[str, str] = {}
    if config is not None:
        env[CONFIG_ENV] = str(config.resolve())
    for key, value in flags.items():
        if value is not None and key not in ("host", "port", "workers"):
            env[ENV[key]] = str(value).lower() if isinstance(value, bool) else str(value)
    if settings.secret_key is None:
        env[ENV["secret_key"]] = secrets.token_urlsafe(32)  # this run's key, as with one process
    with tempfile.TemporaryDirectory(prefix="mcrc-serve-") as tmp:
        if settings.cds is not None and settings.replay_cache is None:
            env[ENV["replay_cache"]] = str(Path(tmp) / "cds-replays.sqlite")
        yield env
