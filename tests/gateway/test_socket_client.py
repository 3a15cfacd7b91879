"""The proxy's client for local runtimes on Unix sockets (`gateway.socket_client`), against a
scripted HTTP server on a real socket: what it answers, and how it fails, is set per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gateway.backends.base import Endpoint
from gateway.config import Settings
from gateway.errors import Unavailable, UpstreamError, UpstreamTimeout
from gateway.proxy import Proxy

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

#: what the server does with one request: (the raw request, the connection) -> nothing
Script = Callable[[bytes, asyncio.Transport], None]


class _Server(asyncio.Protocol):
    """Reads requests with a Content-Length body and hands each to the test's script."""

    def __init__(self, script: Script, seen: list[bytes], connections: list[object]) -> None:
        self._script, self._seen, self._buffer = script, seen, b""
        connections.append(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while b"\r\n\r\n" in self._buffer:
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            if len(rest) < length:
                return
            self._buffer = rest[length:]
            request = head + b"\r\n\r\n" + rest[:length]
            self._seen.append(request)
            self._script(request, self._transport)


@asynccontextmanager
async def _upstream(
    tmp_path: Path, script: Script, *, timeout: float = 30.0
) -> AsyncIterator[tuple[Proxy, Endpoint, list[bytes], list[object]]]:
    path = tmp_path / "runtime.sock"
    seen: list[bytes] = []
    connections: list[object] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(lambda: _Server(script, seen, connections), str(path))
    proxy = Proxy(Settings(data_dir=tmp_path, upstream_timeout=timeout))
    await proxy.start()
    try:
        yield proxy, Endpoint(f"unix:{path}", token="t0ken"), seen, connections
    finally:
        await proxy.aclose()
        server.close()
        await server.wait_closed()


def _answer(data: bytes) -> Script:
    return lambda request, transport: transport.write(data)


async def test_requests_share_one_kept_alive_connection_and_carry_the_token(
    tmp_path: Path,
) -> None:
    async with _upstream(tmp_path, _answer(OK)) as (proxy, endpoint, seen, connections):
        for _ in range(3):
            answer = await proxy.forward(
                endpoint, "POST", "/predict?top_k=1", body=b"\x89PNG", content_type="image/png"
            )
            assert (answer.status, answer.body) == (200, b"{}")
        assert len(connections) == 1
        head, _, body = seen[0].partition(b"\r\n\r\n")
        assert head.startswith(b"POST /predict?top_k=1 HTTP/1.1\r\n") and body == b"\x89PNG"
        assert b"\r\nX-Runtime-Token: t0ken" in head and b"\r\nContent-Length: 4" in head


async def test_only_the_forwarded_headers_come_back(tmp_path: Path) -> None:
    answer = (
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
        b"retry-after: 3\r\nset-cookie: a=b\r\ninference-header-content-length: 2\r\n"
        b"content-length: 2\r\n\r\n{}"
    )
    async with _upstream(tmp_path, _answer(answer)) as (proxy, endpoint, _, _):
        got = await proxy.forward(endpoint, "GET", "/v2/models/m")
    assert got.status == 503
    assert got.headers == {
        "Content-Type": "application/json",
        "Inference-Header-Content-Length": "2",
        "Retry-After": "3",
    }


async def test_a_chunked_answer_is_read_whole(tmp_path: Path) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    )
    async with _upstream(tmp_path, _answer(chunked)) as (proxy, endpoint, _, _):
        assert (await proxy.forward(endpoint, "GET", "/v2")).body == b"abcdefg"


async def test_a_pooled_connection_the_runtime_closed_is_replaced_at_once(tmp_path: Path) -> None:
    answers = [OK + b"", OK]

    def close_after_first(request: bytes, transport: asyncio.Transport) -> None:
        transport.write(answers.pop(0))
        if answers:  # the first connection ends after its answer, unannounced
            transport.close()

    async with _upstream(tmp_path, close_after_first) as (proxy, endpoint, _, connections):
        assert (await proxy.forward(endpoint, "GET", "/v2")).status == 200
        assert (await proxy.forward(endpoint, "GET", "/v2")).status == 200
        assert len(connections) == 2


async def test_an_answer_cut_off_is_503_and_its_connection_is_dropped(tmp_path: Path) -> None:
    def cut(request: bytes, transport: asyncio.Transport) -> None:
        transport.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial')
        transport.close()

    async with _upstream(tmp_path, cut) as (proxy, endpoint, _, _):
        with pytest.raises(Unavailable, match="in the middle of its answer") as caught:
            await proxy.forward(endpoint, "GET", "/v2")
    assert caught.value.retry_after == 1


async def test_no_runtime_on_the_socket_is_503(tmp_path: Path) -> None:
    proxy = Proxy(Settings(data_dir=tmp_path))
    await proxy.start()
    try:
        with pytest.raises(Unavailable, match="not reachable"):
            await proxy.forward(Endpoint(f"unix:{tmp_path / 'none.sock'}"), "GET", "/v2")
    finally:
        await proxy.aclose()


async def test_a_silent_runtime_is_504_and_its_connection_is_not_reused(tmp_path: Path) -> None:
    replies = [None, OK]

    def first_silent(request: bytes, transport: asyncio.Transport) -> None:
        reply = replies.pop(0)
        if reply is not None:
            transport.write(reply)

    async with _upstream(tmp_path, first_silent) as (proxy, endpoint, _, connections):
        with pytest.raises(UpstreamTimeout):
            await proxy.forward(endpoint, "GET", "/v2", timeout=0.2)
        assert (await proxy.forward(endpoint, "GET", "/v2")).status == 200
        assert len(connections) == 2


async def test_an_answer_that_is_not_http_is_502(tmp_path: Path) -> None:
    async with _upstream(tmp_path, _answer(b"SSH-2.0-OpenSSH\r\n\r\n")) as (proxy, endpoint, _, _):
        with pytest.raises(UpstreamError, match="not an HTTP answer"):
            await proxy.forward(endpoint, "GET", "/v2")
