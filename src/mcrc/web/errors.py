"""The errors a web page shows: an HTML page with a status, a sign-in redirect, store and engine errors as pages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from mcrc.errors import InputError, McrcError
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreNotFound

log = logging.getLogger("mcrc.web")
TITLES = {400: "Bad request", 401: "Sign-in needed", 403: "Not allowed", 404: "Not found",
          409: "Changed by someone else", 422: "Cannot accept this input", 503: "Case store unavailable",
          500: "Something went wrong"}


class WebError(Exception):
    """An error shown to the user as an HTML page with this status."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None):
        self.status, self.message, self.problems = status, message, problems or []
        super().__init__(message)


class SignInFirst(Exception):
    """A page needs a signed-in user: answered with a redirect to /login that comes back to `target`."""

    def __init__(self, target: str):
        self.target = target
        super().__init__(target)


@contextmanager
def friendly() -> Iterator[None]:
    """Store and engine errors become WebErrors (HTML pages), never tracebacks or problem+json."""
    try:
        yield
    except StoreForbidden as exc:
        raise WebError(403, str(exc)) from None
    except StoreNotFound as exc:
        raise WebError(404, str(exc)) from None
    except StoreConflict as exc:
        raise WebError(409, str(exc)) from None
    except InputError as exc:
        raise WebError(422, exc.headline, [str(p) for p in exc.problems]) from None
    except StoreError as exc:
        log.error("store error: %s", exc)
        raise WebError(503, "The case store cannot answer now; try again in a moment.") from None
    except McrcError as exc:
        log.error("mcrc error: %s", exc)
        raise WebError(500, "No assessment could be produced; nothing was stored.") from None
