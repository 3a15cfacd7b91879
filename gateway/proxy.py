"""The data path: forwards request bodies to upstream runtimes over pooled keep-alive connections.

aiohttp, not httpx, carries this path (measured here: about 8x the throughput; see ENVIRONMENT.md).
Bodies pass through untouched; a runtime served inside the gateway process (``Endpoint.app``)
gets them in memory instead (``backends/inprocess.py``). aiohttp's exceptions are translated into
the `GatewayError` tree here, where they arise. A cold upstream (``Endpoint.cold_start_budget`` >
0) is retried until its budget runs out; a stale pooled connection is retried once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from gateway.backends.base import Endpoint
from gateway.backends.inprocess import exchange
from gateway.config import Settings
from gateway.errors import Unavailable, UpstreamError, UpstreamTimeout

_PASSED_HEADERS = ("Content-Type", "Retry-After")


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
        timeout: float | None = None,
    ) -> UpstreamResponse:
        """Send one request upstream; raises `Unavailable`, `UpstreamTimeout` or `UpstreamError`."""
        if endpoint.app is not None:
            return await self._call(endpoint, method, path, body, content_type, timeout)
        deadline = time.monotonic() + (timeout or self._settings.upstream_timeout)
        cold_since: float | None = None
        cold_until = time.monotonic() + endpoint.cold_start_budget
        stale_retry = True
        while True:
            try:
                response = await self._send(endpoint, method, path, body, content_type, deadline)
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
        content_type: str | None,
        timeout: float | None,
    ) -> UpstreamResponse:
        """One exchange with a runtime served in this process, within the deadline."""
        assert endpoint.app is not None
        seconds = timeout or self._settings.upstream_timeout
        try:
            async with asyncio.timeout(seconds):
                status, payload, headers = await exchange(
                    endpoint.app, method, path, body, content_type
                )
        except TimeoutError as exc:
            raise UpstreamTimeout(f"{endpoint.base_url} did not answer within {seconds} s") from exc
        passed = {h: headers[h.lower()] for h in _PASSED_HEADERS if h.lower() in headers}
        return UpstreamResponse(status, payload, passed)

    async def _send(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: bytes | None,
        content_type: str | None,
        deadline: float,
    ) -> UpstreamResponse:
        assert self._session is not None, "Proxy.start() was not called"
        headers = {"Content-Type": content_type} if content_type else None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamTimeout(f"upstream {endpoint.base_url} did not answer in time")
        try:
            async with self._session.request(
                method,
                endpoint.base_url + path,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=remaining, sock_connect=self._settings.upstream_connect_timeout
                ),
            ) as response:
                payload = await response.read()
                passed = {h: response.headers[h] for h in _PASSED_HEADERS if h in response.headers}
                return UpstreamResponse(response.status, payload, passed)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {endpoint.base_url} did not answer within the deadline"
            ) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            raise
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {endpoint.base_url} failed: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
