"""One write per response: the coalescing transport alone, then under uvicorn's real protocol."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from runtimes.http_writes import FLUSH_BYTES, CoalescingProtocol, CoalescingTransport


class Recorder:
    """The real transport's stand-in (or a wrapper around a real one): records every write."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        if self.inner is not None:
            self.inner.write(data)

    def close(self) -> None:
        self.closed = True
        if self.inner is not None:
            self.inner.close()

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closed if self.inner is None else bool(self.inner.is_closing())

    def get_write_buffer_size(self) -> int:
        return 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def wrapped() -> tuple[CoalescingTransport, Recorder]:
    recorder = Recorder()
    return CoalescingTransport(recorder, asyncio.get_running_loop()), recorder  # type: ignore[arg-type]


async def next_turn() -> None:
    """Let the event loop run the callbacks already scheduled (one turn)."""
    await asyncio.sleep(0)


async def test_a_head_and_its_body_leave_as_one_write() -> None:
    transport, recorder = wrapped()
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert recorder.writes == []  # the head waits for its body
    transport.write(b"{}")
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await next_turn()
    assert len(recorder.writes) == 1  # nothing left over for the scheduled flush


async def test_a_lone_write_leaves_by_the_end_of_the_turn() -> None:
    transport, recorder = wrapped()
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert transport.get_write_buffer_size() == len(b"HTTP/1.1 100 Continue\r\n\r\n")
    await next_turn()
    assert recorder.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    assert transport.get_write_buffer_size() == 0


async def test_large_writes_are_not_held_and_order_is_kept() -> None:
    transport, recorder = wrapped()
    big = b"x" * FLUSH_BYTES
    transport.write(big)
    assert recorder.writes == [big]
    transport.write(b"head")
    transport.write(big)
    assert recorder.writes == [big, b"head" + big]
    transport.write(b"")
    await next_turn()
    assert b"".join(recorder.writes) == big + b"head" + big


async def test_close_sends_what_is_pending_first_and_abort_drops_it() -> None:
    transport, recorder = wrapped()
    transport.write(b"last words")
    transport.close()
    assert recorder.writes == [b"last words"] and recorder.closed
    transport, recorder = wrapped()
    transport.write(b"never sent")
    transport.abort()
    await next_turn()
    assert recorder.writes == [] and recorder.aborted


async def test_nothing_is_written_to_a_closing_transport() -> None:
    transport, recorder = wrapped()
    transport.write(b"too late")
    recorder.closed = True  # the peer went away before the turn ended
    await next_turn()
    assert recorder.writes == []


# --- under uvicorn: what really reaches the socket ------------------------------------------


class RecordingProtocol(CoalescingProtocol):
    """CoalescingProtocol whose real transport records what it is given."""

    recorders: ClassVar[list[Recorder]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        recorder = Recorder(transport)
        RecordingProtocol.recorders.append(recorder)
        super().connection_made(recorder)  # type: ignore[arg-type]


async def _json(request: Request) -> Response:
    return JSONResponse({"echo": len(await request.body())})


async def _stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            await asyncio.sleep(0)  # each chunk in a turn of its own
            yield f"chunk {i};".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Route("/json", _json, methods=["POST"]), Route("/stream", _stream)])
    with tempfile.TemporaryDirectory() as folder:
        socket = str(Path(folder) / "s.sock")
        config = uvicorn.Config(
            app, uds=socket, http=RecordingProtocol, log_level="error", lifespan="off"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        transport = httpx.AsyncHTTPTransport(uds=socket)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield client
        finally:
            server.should_exit = True
            await task


@pytest.fixture(autouse=True)
def _fresh_recorders() -> None:
    RecordingProtocol.recorders = []


async def test_each_answer_reaches_the_socket_in_one_write() -> None:
    async with served() as client:
        for size in (0, 10, 5000):
            answer = await client.post("/json", content=b"a" * size)
            assert answer.status_code == 200 and answer.json() == {"echo": size}
    (recorder,) = RecordingProtocol.recorders  # one keep-alive connection
    assert len(recorder.writes) == 3  # head and body together, once per answer
    for write in recorder.writes:
        head, body = write.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK") and body.startswith(b'{"echo":')


async def test_streamed_answers_stay_streamed_and_whole() -> None:
    async with served() as client:
        answer = await client.get("/stream")
        assert answer.text == "chunk 0;chunk 1;chunk 2;"
    (recorder,) = RecordingProtocol.recorders
    assert len(recorder.writes) >= 3  # chunks are not held back until the end


async def test_expect_100_continue_still_gets_its_answer() -> None:
    async with served() as client:
        answer = await client.post("/json", content=b"b" * 100, headers={"expect": "100-continue"})
        assert answer.json() == {"echo": 100}
