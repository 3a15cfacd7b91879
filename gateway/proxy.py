"""The data path: forwards request bodies to upstream runtimes over pooled keep-alive connections.

aiohttp, not httpx, carries this path (measured here: about 8x the throughput; see ENVIRONMENT.md).
Bodies pass through untouched, with the headers of `FORWARDED_HEADERS` (the same allowlist in
both directions; nothing else crosses, so no client credential reaches a runtime). aiohttp's
exceptions are translated into the `GatewayError` tree here, where they arise. A cold upstream
(``Endpoint.cold_start_budget`` > 0: refused connections, 503s) is asked again every 50 ms until
its budget or the request's deadline runs out; a stale pooled connection is retried once, at once
(both through `gateway.retry`). The runtime's token (``Endpoint.token``) goes with every
forwarded request. A local runtime process listens on a Unix socket (``unix:<path>`` base URLs):
each socket gets its own pool of connections (`gateway.socket_client`, a lean HTTP/1.1 client;
aiohttp for a streamed exchange), kept until `aclose`. A runtime served inside the gateway
process (``Endpoint.app``) gets the same request in memory instead (``backends/inprocess.py``).
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
from gateway.retry import RetryPolicy, retry
from gateway.socket_client import BadAnswer, CutOff, SocketClient, Stale, Unreachable
from runtimes.auth import TOKEN_HEADER
from runtimes.oip import INFERENCE_HEADER

#: Headers the data path passes on, client -> upstream and upstream -> client; no others.
#: ``Inference-Header-Content-Length`` splits an Open Inference Protocol body into its JSON part
#: and its binary tensors; ``Retry-After`` tells a client when a busy or cold runtime takes work.
FORWARDED_HEADERS = ("Content-Type", INFERENCE_HEADER, "Retry-After")


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The allowed headers out of ``headers`` (a case-insensitive mapping)."""
    return {name: headers[name] for name in FORWARDED_HEADERS if name in headers}


def _forwarded_lower(headers: Mapping[str, str]) -> dict[str, str]:
    """The allowed headers out of ``headers`` whose names are all lower case."""
    return {name: headers[key] for name, key in _FORWARDED_KEYS if key in headers}


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
        self._unix_sessions: dict[str, aiohttp.ClientSession] = {}  # socket path -> its session
        self._socket_clients: dict[str, SocketClient] = {}  # socket path -> its pool

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=self._settings.upstream_pool_size,
            keepalive_timeout=30.0,
            enable_cleanup_closed=False,
        )
        self._session = self._new_session(connector)

    def _new_session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._settings.upstream_connect_timeout
            ),
        )

    def _route(self, endpoint: Endpoint, path: str) -> tuple[aiohttp.ClientSession, str]:
        """The session that reaches `endpoint` and the URL of `path` there."""
        assert self._session is not None, "Proxy.start() was not called"
        socket_path = endpoint.unix_socket
        if socket_path is None:
            return self._session, endpoint.base_url + path
        session = self._unix_sessions.get(socket_path)
        if session is None:
            connector = aiohttp.UnixConnector(
                socket_path, limit=self._settings.upstream_pool_size, keepalive_timeout=30.0
            )
            session = self._unix_sessions[socket_path] = self._new_session(connector)
        return session, _ON_SOCKET + path

    async def aclose(self) -> None:
        for client in self._socket_clients.values():
            client.close()
        self._socket_clients = {}
        sessions = [self._session, *self._unix_sessions.values()]
        self._session, self._unix_sessions = None, {}
        for session in sessions:
            if session is not None:
                await session.close()

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
        ended: list[float] = []  # when each attempt ended

        async def attempt() -> UpstreamResponse:
            try:
                return await retry(
                    lambda: self._send(endpoint, method, path, body, sent, deadline),
                    STALE_CONNECTION,
                    transient=_stale,
                )
            finally:
                ended.append(time.monotonic())

        # no budget (a warm backend): one attempt, whatever it meets
        budget = min(endpoint.cold_start_budget, deadline - time.monotonic())
        policy = RetryPolicy(COLD_POLL_SECONDS, COLD_POLL_SECONDS, deadline=budget, jitter=0.0)
        try:
            response = await retry(attempt, policy, transient=_unreached, again=_cold)
        except _UNREACHED as exc:
            raise Unavailable(
                f"upstream {endpoint.base_url} is not reachable ({_reason(exc)})", retry_after=1
            ) from exc
        if len(ended) == 1:
            return response
        waited = time.monotonic() - ended[0]
        return UpstreamResponse(response.status, response.body, response.headers, waited)

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
        return UpstreamResponse(status, payload, _forwarded_lower(answered))

    async def _send(
        self,
        endpoint: Endpoint,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        deadline: float,
    ) -> UpstreamResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise UpstreamTimeout(f"upstream {endpoint.base_url} did not answer in time")
        socket_path = endpoint.unix_socket
        if socket_path is not None and method != "HEAD":  # an answer to HEAD has no body to read
            return await self._send_on_socket(
                endpoint, socket_path, method, path, body, headers, remaining
            )
        session, url = self._route(endpoint, path)
        try:
            async with session.request(
                method,
                url,
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
        except aiohttp.ClientPayloadError as exc:  # it went away mid-answer: killed, restarting
            raise Unavailable(
                f"upstream {endpoint.base_url} closed the connection in the middle of its answer "
                f"({_reason(exc)})",
                retry_after=1,
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream {endpoint.base_url} failed: {_reason(exc)}") from exc

    async def _send_on_socket(
        self,
        endpoint: Endpoint,
        socket_path: str,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        remaining: float,
    ) -> UpstreamResponse:
        """`_send` to a local runtime process, with `gateway.socket_client`."""
        client = self._socket_clients.get(socket_path)
        if client is None:
            client = SocketClient(socket_path, self._settings.upstream_pool_size)
            self._socket_clients[socket_path] = client
        try:
            async with asyncio.timeout(remaining):
                status, payload, answered = await client.request(method, path, headers, body)
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"upstream {endpoint.base_url} did not answer within the deadline"
            ) from exc
        except CutOff as exc:  # it went away mid-answer: killed, restarting
            raise Unavailable(f"upstream {endpoint.base_url}: {exc}", retry_after=1) from exc
        except BadAnswer as exc:
            raise UpstreamError(f"upstream {endpoint.base_url} failed: {exc}") from exc
        return UpstreamResponse(status, payload, _forwarded_lower(answered))

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
        session, url = self._route(endpoint, path)
        try:
            async with session.request(
                method,
                url,
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


#: the base of every URL sent on a Unix socket (its Host header)
_ON_SOCKET = "http://localhost"
#: how often a cold upstream is asked again, within its cold-start budget
COLD_POLL_SECONDS = 0.05
#: a pooled connection the upstream closed or reset meanwhile is used again at once, once
STALE_CONNECTION = RetryPolicy(first_delay=0.0, max_delay=0.0, attempts=2, jitter=0.0)
#: the upstream could not be reached: not (yet) listening (`ClientConnectorError`, an
#: `ClientOSError`, `Unreachable` on a socket), or a connection closed or reset by it
_UNREACHED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, Unreachable, Stale)
_REFUSED = (aiohttp.ClientConnectorError, Unreachable)  # no connection was made at all
_FORWARDED_KEYS = tuple((name, name.lower()) for name in FORWARDED_HEADERS)


def _unreached(error: BaseException) -> bool:
    return isinstance(error, _UNREACHED)


def _stale(error: BaseException) -> bool:
    """A pooled connection closed or reset by the upstream (not a refused one)."""
    return _unreached(error) and not isinstance(error, _REFUSED)


def _cold(response: UpstreamResponse) -> bool:
    """A 503 may come from a cold upstream (a Knative activator's while no pod is up yet): asked
    again while there is cold-start budget left, passed on as it is after that."""
    return response.status == 503


def _reason(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
