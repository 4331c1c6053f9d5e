"""PDF export with WeasyPrint, through a URL fetcher that serves only the app's own packaged static files.

The document is rendered from HTML the app generated itself, with its base URL set to an internal,
unresolvable origin; a stylesheet or image is fetched only when its URL is that origin's
`/static/<name>` and `<name>` is a file shipped in `mcrc/web/static`. Every other URL (http, https,
file, data, ftp, another host, a path outside /static/) is refused without any network or file
access and logged by scheme only, so nothing of the URL (hosts, paths, query strings) is leaked to
the log.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from importlib.resources import files
from urllib.parse import urlsplit

from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger("mcrc.web.pdf")
BASE_URL = "https://mcrc-app.invalid/"  # .invalid never resolves (RFC 6761); only a key for the fetcher
_ORIGIN = urlsplit(BASE_URL)


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^/|^\.\.?/")


class _WithholdURLs(logging.Filter):
    """WeasyPrint logs the URL of a resource it failed to load; keep it out of the log (it could carry a
    host, a path or a query string), keeping the rest of the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple("<url withheld>" if isinstance(a, str) and _URL.match(a) else a for a in record.args)
        return True


for _name in ("weasyprint", "weasyprint.progress"):  # filters do not reach child loggers, so both
    logging.getLogger(_name).addFilter(_WithholdURLs())


class RefusedURL(Exception):
    """A URL the PDF renderer may not fetch (not one of the app's own static files)."""


def _static_dir():
    return files("mcrc.web").joinpath("static")


class AppAssetFetcher(URLFetcher):
    """Serves `BASE_URL/static/<file>` from the package; refuses everything else. Counts refusals for tests."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=(), allow_redirects=False, fail_on_errors=False)
        self.served: list[str] = []
        self.refused = 0

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        name = self._asset_name(url)
        if name is None:
            self.refused += 1
            scheme = urlsplit(url).scheme.lower() if ":" in url else "relative"
            log.warning("pdf: refused to fetch a resource (scheme %s); only the app's own static files are served",
                        scheme if scheme.isalnum() else "unknown")
            raise RefusedURL("refused: not one of the app's own static files")
        data = _static_dir().joinpath(name).read_bytes()
        self.served.append(name)
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body=data, headers={"Content-Type": mime})

    @staticmethod
    def _asset_name(url: str) -> str | None:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        if (parts.scheme, parts.netloc) != (_ORIGIN.scheme, _ORIGIN.netloc) or parts.query or parts.fragment:
            return None
        if not parts.path.startswith("/static/"):
            return None
        name = parts.path.removeprefix("/static/")
        if not name or "/" in name or "\\" in name or name.startswith("."):
            return None
        shipped = {p.name for p in _static_dir().iterdir() if p.is_file()}
        return name if name in shipped else None


def html_to_pdf(html: str, fetcher: AppAssetFetcher | None = None) -> bytes:
    """Render app-generated HTML to PDF bytes; resources resolve only through AppAssetFetcher."""
    return HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher or AppAssetFetcher()).write_pdf()
