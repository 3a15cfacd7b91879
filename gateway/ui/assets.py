"""Assets: the dashboard's static files, read once from the package and served from memory.

Only the files that ship in ``gateway/ui/static/`` can be served (no path from the request ever
reaches the file system). Each answer carries an ETag, so a browser revalidates cheaply, and the
security headers of the dashboard (a Content-Security-Policy that allows nothing but this origin).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import NotFound

_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file: its bytes, media type and ETag."""

    body: bytes
    media_type: str
    etag: str


class Assets:
    """The static files of the dashboard, by file name."""

    def __init__(self, package: str = "gateway.ui", folder: str = "static") -> None:
        self._files: dict[str, Asset] = {}
        for entry in resources.files(package).joinpath(folder).iterdir():
            suffix = "." + entry.name.rsplit(".", 1)[-1]
            if not entry.is_file() or suffix not in _MEDIA_TYPES:
                continue
            body = entry.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self._files[entry.name] = Asset(body, _MEDIA_TYPES[suffix], etag)

    def names(self) -> list[str]:
        return sorted(self._files)

    def response(self, request: Request, name: str) -> Response:
        """The file `name` (304 when the browser has it already); `NotFound` for any other."""
        asset = self._files.get(name)
        if asset is None:
            raise NotFound(f"no file {name!r} in the dashboard")
        headers = {**SECURITY_HEADERS, "ETag": asset.etag}
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
