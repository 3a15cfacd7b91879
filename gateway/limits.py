"""Admission control and request limits: bounded work per service, bounded request headers.

`Admission` lets at most ``max_inflight`` requests of a service run at once and at most
``max_queue`` wait; past that a request is refused at once with 429 and ``Retry-After``, before
its body is read, so memory stays bounded however hard clients push.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import BadRequest, HeadersTooLarge, Overloaded, PayloadTooLarge
from runtimes.errors import send_error

_DRAIN_LIMIT = 64 * 1024 * 1024  # past this, an oversized body is not read to its end


def declared_length(request: Request, limit: int) -> int | None:
    """The request's Content-Length (None if it sent none); `PayloadTooLarge` past `limit`."""
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    try:
        size = int(declared)
    except ValueError:
        raise BadRequest(f"invalid Content-Length {declared!r}") from None
    if size > limit:
        raise PayloadTooLarge(f"request body of {size} bytes is over the limit of {limit}")
    return size


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, or `PayloadTooLarge` once it passes `limit` bytes."""
    try:
        declared_length(request, limit)
    except PayloadTooLarge:
        if int(request.headers["content-length"]) <= _DRAIN_LIMIT:
            async for _ in request.stream():  # read it away, so the client can read our answer
                pass
        raise
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class Admission:
    """A counting semaphore with a bounded waiting line (first come, first served)."""

    def __init__(self, name: str, max_inflight: int, max_queue: int) -> None:
        self._name = name
        self._free = max_inflight
        self._max_queue = max_queue
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def full(self) -> bool:
        """Whether `acquire` would be refused now (every slot taken, the line full)."""
        return self._free <= 0 and len(self._waiters) >= self._max_queue

    async def acquire(self) -> None:
        """Take a slot, waiting in line if needed; `Overloaded` when the line is full."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        if len(self._waiters) >= self._max_queue:
            raise Overloaded(
                f"service {self._name!r} is saturated ({len(self._waiters)} requests waiting)",
                retry_after=1,
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over just as we gave up: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give the slot to the next in line, or back to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1


class HeaderLimit:
    """ASGI middleware: requests whose headers pass `max_bytes` get 431 with a JSON error."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(k) + len(v) for k, v in scope["headers"]) + len(scope["raw_path"] or b"")
            if size > self._max_bytes:
                error = HeadersTooLarge(f"request headers over {self._max_bytes} bytes")
                await send_error(send, error, scope["path"])
                return
        await self._app(scope, receive, send)
