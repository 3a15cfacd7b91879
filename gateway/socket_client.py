"""SocketClient: the data path's HTTP/1.1 client for a local runtime on its Unix socket.

A pool of keep-alive connections to one socket; a request is written in one piece and the answer
parsed by httptools (the parser uvicorn serves with), read whole. It does the little the proxy
needs of a runtime on this machine, with a fraction of a general client's work per request
(aiohttp's took about 40 % of the gateway app's CPU per forwarded request, in a profile):
no URL objects, cookies, redirects, proxies, compression or TLS. The proxy
(`gateway.proxy`) still uses aiohttp for every other upstream, and for streamed answers.

What can go wrong is told apart the way the proxy retries: `Unreachable` (no connection could be
made: the runtime is not listening, or is restarting), `Stale` (a pooled connection was closed
before it answered: the runtime closed it meanwhile; a fresh one may work), `CutOff` (the
connection was closed in the middle of an answer), `BadAnswer` (not HTTP). A timeout is the
caller's (``asyncio.timeout``): the connection in use is then closed, never pooled again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import cast

import httptools


class SocketError(Exception):
    """A request to a runtime's socket failed (see the subclasses)."""


class Unreachable(SocketError):
    """No connection to the socket could be made."""


class Stale(SocketError):
    """A pooled connection was closed before any byte of the answer came."""


class CutOff(SocketError):
    """The connection was closed in the middle of the answer."""


class BadAnswer(SocketError):
    """What came back is not an HTTP answer."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one exchange at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[None] | None = None
        self._started = False  # a byte of the current answer came
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._keep_alive = False
        self._status = 0
        self.reused = False
        self.open = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is one, unregistered
        # idempotent: `SocketClient` calls it too

    def data_received(self, data: bytes) -> None:
        self._started = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(BadAnswer(f"not an HTTP answer ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self._started:
            self._fail(CutOff("the runtime closed the connection in the middle of its answer"))
        else:
            self._fail(Stale("the runtime closed the connection before it answered"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._keep_alive = self._parser.should_keep_alive()  # reset once the message is done
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(None)

    def _fail(self, error: SocketError) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)
        self.close()

    async def exchange(self, request: list[bytes]) -> tuple[int, bytes, dict[str, str]]:
        """Write `request`, wait for the whole answer: (status, body, headers in lower case)."""
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._started = False
        self._headers, self._chunks = {}, []
        self._transport.writelines(request)
        await self._answer
        if not self._keep_alive:
            self.close()
        body = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        return self._status, body, self._headers

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.close()


class SocketClient:
    """Keep-alive HTTP/1.1 to one Unix socket; at most `pool_size` idle connections are kept."""

    def __init__(self, path: str, pool_size: int) -> None:
        self._path = path
        self._pool_size = pool_size
        self._idle: list[_Connection] = []

    async def request(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[int, bytes, dict[str, str]]:
        """One exchange: (status, body, headers with lower-case names); raises a `SocketError`.
        A cancelled or timed-out request closes its connection."""
        if _breaks_lines(target, *headers.values()):
            raise ValueError("a line break in the request target or a header value")
        head = [f"{method} {target} HTTP/1.1\r\nHost: localhost\r\n"]
        head += [f"{name}: {value}\r\n" for name, value in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}\r\n")
        head.append("\r\n")
        request = ["".join(head).encode("latin-1")]
        if body:
            request.append(body)
        connection = await self._connection()
        try:
            answer = await connection.exchange(request)
        except Stale:
            if not connection.reused:  # a fresh connection closed at once: nobody serves there
                raise Unreachable("the runtime closed a new connection without an answer") from None
            raise
        except BaseException:
            connection.close()
            raise
        if connection.open and len(self._idle) < self._pool_size:
            connection.reused = True
            self._idle.append(connection)
        else:
            connection.close()
        return answer

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
        loop = asyncio.get_running_loop()
        try:
            transport, connection = await loop.create_unix_connection(_Connection, self._path)
        except OSError as exc:
            raise Unreachable(f"cannot connect to {self._path} ({exc.strerror or exc})") from exc
        connection.connection_made(transport)  # uvloop may call it only after returning
        return connection

    def close(self) -> None:
        """Close every idle connection (those in use close when their exchange ends)."""
        for connection in self._idle:
            connection.close()
        self._idle.clear()


def _breaks_lines(*texts: str) -> bool:
    return any("\r" in text or "\n" in text for text in texts)
