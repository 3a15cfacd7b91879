"""The data path: forwards request bodies to upstream runtimes over pooled keep-alive connections.

aiohttp, not httpx, carries this path (measured here: about 8x the throughput; see ENVIRONMENT.md).
Bodies pass through untouched, with the headers of `FORWARDED_HEADERS` (the same allowlist in
both directions; nothing else crosses, so no client credential reaches a runtime). aiohttp's
exceptions are translated into the `GatewayError` tree here, where they arise. A cold upstream
(``Endpoint.cold_start_budget`` > 0) is retried until its budget runs out; a stale pooled
connection is retried once. The runtime's token (``Endpoint.token``) goes with every forwarded
request. A runtime served inside the gateway process (``Endpoint.app``) gets the same request in
memory instead (``backends/inprocess.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from gateway.backends.base import Endpoint
from gateway.backends.inprocess import exchange
from gateway.config import Settings
from gateway.errors import Unavailable, UpstreamError, UpstreamTimeout
from runtimes.auth import TOKEN_HEADER
from runtimes.oip import INFERENCE_HEADER

#: Headers the data path passes on, client -> upstream and upstream -> client; no others.
#: ``Inference-Header-Content-Length`` splits an Open Inference Protocol body into its JSON part
#: and its binary tensors; ``Retry-After`` tells a client when a busy or cold runtime takes work.
FORWARDED_HEADERS = ("Content-Type", INFERENCE_HEADER, "Retry-After")


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The allowed headers out of ``headers`` (a case-insensitive mapping)."""
    return {name: headers[name] for name in FORWARDED_HEADERS if name in headers}


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """What the upstream answered, and how long the proxy waited for a cold upstream."""

    status: int
    body: bytes
    headers: dict[str, str]
    cold_start_seconds: float | None = None


class Proxy:
    """Pooled HTTP client for the data path (one per gateway process)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=self._settings.upstream_pool_size,
            keepalive_timeout=30.0,
            enable_cleanup_closed=False,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._settings.upstream_connect_timeout
            ),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def forward(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> UpstreamResponse:
        """Send one request upstream; raises `Unavailable`, `UpstreamTimeout` or `UpstreamError`.

        ``headers`` go as they are (filter them with `forwarded_headers`), with the runtime's
        token (``Endpoint.token``) added here, never taken from a client."""
        sent = dict(headers or {})
        if endpoint.token is not None:
            sent[TOKEN_HEADER] = endpoint.token
        if content_type:
            sent["Content-Type"] = content_type
        if endpoint.app is not None:
            return await self._call(endpoint, method, path, body, sent, timeout)
        deadline = time.monotonic() + (timeout or self._settings.upstream_timeout)
        cold_since: float | None = None
        cold_until = time.monotonic() + endpoint.cold_start_budget
        stale_retry = True
        while True:
            try:
                response = await self._send(endpoint, method, path, body, sent, deadline)
            except aiohttp.ClientConnectorError as exc:  # refused: not (yet) listening
                error: Exception = exc
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if stale_retry:  # a pooled connection closed or reset by the upstream: once more
                    stale_retry = False
                    continue
                error = exc
            else:
                cold = response.status == 503 and endpoint.cold_start_budget > 0
                if not cold or time.monotonic() >= cold_until:
                    if cold_since is None:
                        return response
                    waited = time.monotonic() - cold_since
                    return UpstreamResponse(
                        response.status, response.body, response.headers, waited
                    )
                error = UpstreamError("upstream answered 503")
            now = time.monotonic()
            if now >= cold_until or now >= deadline:
                raise Unavailable(
                    f"upstream {endpoint.base_url} is not reachable ({_reason(error)})",
                    retry_after=1,
                ) from error
            cold_since = cold_since or now
            await asyncio.sleep(min(0.05, cold_until - now))

    async def _call(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        timeout: float | None,
    ) -> UpstreamResponse:
        """One exchange with a runtime served in this process, within the deadline."""
        assert endpoint.app is not None
        seconds = timeout or self._settings.upstream_timeout
        try:
            async with asyncio.timeout(seconds):
                status, payload, answered = await exchange(
                    endpoint.app, method, path, body, headers
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{endpoint.base_url} did not answer within {seconds} s") from exc
        passed = {h: answered[h.lower()] for h in FORWARDED_HEADERS if h.lower() in answered}
        return UpstreamResponse(status, payload, passed)

    async def _send(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        deadline: float,
    ) -> UpstreamResponse:
        assert self._session is not None, "Proxy.start() was not called"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamTimeout(f"upstream {endpoint.base_url} did not answer in time")
        try:
            async with self._session.request(
                method,
                endpoint.base_url + path,
                data=body,
                headers=headers or None,
                timeout=aiohttp.ClientTimeout(
                    total=remaining, sock_connect=self._settings.upstream_connect_timeout
                ),
            ) as response:
                payload = await response.read()
                passed = forwarded_headers(response.headers)
                return UpstreamResponse(response.status, payload, passed)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {endpoint.base_url} did not answer within the deadline"
            ) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            raise
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {endpoint.base_url} failed: {_reason(exc)}") from exc

    @contextlib.asynccontextmanager
    async def stream(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One exchange whose answer the caller reads as it comes (any method, the headers as
        given, no redirect followed); `timeout` bounds each wait for data, not the whole."""
        assert self._session is not None, "Proxy.start() was not called"
        try:
            async with self._session.request(
                method,
                endpoint.base_url + path,
                data=body,
                headers=dict(headers),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=self._settings.upstream_connect_timeout,
                    sock_read=timeout or self._settings.upstream_timeout,
                ),
            ) as response:
                yield response
        except aiohttp.ClientConnectorError as exc:
            raise Unavailable(
                f"upstream {endpoint.base_url} is not reachable ({_reason(exc)})", retry_after=1
            ) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream {endpoint.base_url} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {endpoint.base_url} failed: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
