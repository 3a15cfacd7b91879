"""Admission control and request limits: bounded work per service, bounded request headers.

`Admission` lets at most ``max_inflight`` requests of a service run at once and at most
``max_queue`` wait; past that a request is refused at once with 429 and ``Retry-After``, before
its body is read, so memory stays bounded however hard clients push.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import Overloaded


class Admission:
    """A semaphore with a bounded waiting line."""

    def __init__(self, name: str, max_inflight: int, max_queue: int) -> None:
        self._name = name
        self._slots = asyncio.Semaphore(max_inflight)
        self._max_queue = max_queue
        self._waiting = 0

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        if self._slots.locked():
            if self._waiting >= self._max_queue:
                raise Overloaded(
                    f"service {self._name!r} is saturated ({self._waiting} requests waiting)",
                    retry_after=1,
                )
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()


class HeaderLimit:
    """ASGI middleware: requests whose headers pass `max_bytes` get 431 with a JSON error."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(k) + len(v) for k, v in scope["headers"]) + len(scope["raw_path"] or b"")
            if size > self._max_bytes:
                body = orjson.dumps(
                    {
                        "error": {
                            "code": "headers_too_large",
                            "message": f"request headers over {self._max_bytes} bytes",
                        }
                    }
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 431,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self._app(scope, receive, send)
