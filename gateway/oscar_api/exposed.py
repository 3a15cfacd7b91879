"""``/system/services/{service}/exposed/{path}``: OSCAR's exposed services, proxied.

An ``expose``d service (OSCAR's ``expose``, run by the deployment backend: its own image serving
its own HTTP API on ``expose.api_port``) is reached through the gateway, as OSCAR's ingress does:
any method, the request's headers and query passed on, the answer streamed back as it comes
(server-sent events, token streams). The path the application sees is ``/{path}``, or the whole
``/system/services/<name>/exposed/{path}`` with ``rewrite_target: true`` (as OSCAR). With
``set_auth: true`` a caller needs the service's token (``Bearer``, or Basic with the service's
name as user and its token as password, as OSCAR's ingress asks) or the admin's credentials;
otherwise the application is public, as in OSCAR. The request body is read whole, within
``GATEWAY_MAX_BODY_BYTES``; WebSocket upgrades are not proxied.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
from collections.abc import AsyncIterator

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway.auth import Authenticator, credentials, hash_token
from gateway.config import Settings
from gateway.errors import NotFound
from gateway.limits import read_body
from gateway.proxy import Proxy
from gateway.registry import Entry, Registry

log = logging.getLogger("gateway.exposed")

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
_CHUNK = 64 * 1024


class ExposedProxy:
    """The handler of ``/system/services/{service}/exposed/...``."""

    def __init__(
        self, settings: Settings, registry: Registry, proxy: Proxy, auth: Authenticator
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._proxy = proxy
        self._auth = auth

    async def forward(self, request: Request) -> Response:
        """Any method: the request to the exposed service's port, its answer streamed back."""
        entry = self._entry(request.path_params["service"])
        assert entry.spec.expose is not None
        if entry.spec.expose.set_auth:
            self._check(request, entry)
        path = "/" + request.path_params["path"]
        if entry.spec.expose.rewrite_target:
            path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        body = await read_body(request, self._settings.max_body_bytes)
        headers = self._headers(request, strip_auth=entry.spec.expose.set_auth)
        endpoint = entry.backend.endpoint(entry.spec.name)
        stack = contextlib.AsyncExitStack()
        upstream = await stack.enter_async_context(
            self._proxy.stream(
                endpoint, request.method, path, headers=headers, body=body or None,
                timeout=entry.spec.timeout,
            )
        )  # fmt: skip
        passed = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        if "Content-Length" in upstream.headers and "Content-Encoding" not in upstream.headers:
            passed["Content-Length"] = upstream.headers["Content-Length"]
        return StreamingResponse(
            _chunks(upstream, stack, entry.spec.name),
            status_code=upstream.status,
            headers=passed,
            background=BackgroundTask(stack.aclose),
        )

    def _entry(self, name: str) -> Entry:
        entry = self._registry.get(name)
        if entry.spec.expose is None:
            raise NotFound(f"service {name!r} is not exposed (it declares no 'expose')")
        return entry

    def _check(self, request: Request, entry: Entry) -> None:
        """``set_auth``: the service's token (Bearer or OSCAR's Basic) or the admin's."""
        found = credentials(request) if self._auth.enabled else None
        if found is not None and found.scheme == "basic" and entry.token_hash is not None:
            user, _, password = found.secret.partition(":")
            digest = hash_token(password)
            if user == entry.spec.name and hmac.compare_digest(digest, entry.token_hash):
                return
        self._auth.require_service(
            request, entry.spec.name, public=False, token_hash=entry.token_hash
        )

    @staticmethod
    def _headers(request: Request, *, strip_auth: bool) -> dict[str, str]:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        if strip_auth:  # the gateway's credentials are not the application's business
            headers.pop("authorization", None)
        client = request.client.host if request.client else ""
        headers["X-Forwarded-For"] = ", ".join(
            part for part in (request.headers.get("x-forwarded-for"), client) if part
        )
        headers["X-Forwarded-Host"] = request.headers.get("host", "")
        headers["X-Forwarded-Proto"] = request.url.scheme
        headers["X-Forwarded-Prefix"] = request.url.path.removesuffix(
            request.path_params["path"]
        ).rstrip("/")
        return headers


async def _chunks(
    upstream: aiohttp.ClientResponse, stack: contextlib.AsyncExitStack, name: str
) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.content.iter_chunked(_CHUNK):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:  # the status line is already sent
        log.warning("exposed service %s: the answer broke off: %s", name, type(exc).__name__)
    finally:
        await stack.aclose()
