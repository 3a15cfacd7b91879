"""InProcessRuntime: an ONNX service's runtime served inside the gateway process.

A local service with ``in_process: true`` gets no runtime process: the gateway builds the
runtime's own ASGI app (``runtimes.onnx.app``, the same code and ``RUNTIME_*`` settings a runtime
process would have) and hands each request to it in memory - no second HTTP exchange, no body
copied through a socket, no second interpreter to start. The trade: no isolation (the model's
memory is the gateway's, a crash in native code takes the gateway down) and no restarts; the
default, a supervised process per service, keeps both.

``exchange`` is the in-memory counterpart of one HTTP exchange; the proxy calls it for an
``Endpoint`` that carries an ``app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Message

from gateway.backends.base import State
from runtimes.onnx.config import RuntimeSettings

log = logging.getLogger("gateway.local")

_READY_PATH = "/v2/health/ready"
_LIVE_PATH = "/v2/health/live"  # 503 once the model failed to load
_JSON_FIELDS = ("preprocess", "postprocess", "batching")


def runtime_settings(env: Mapping[str, str]) -> RuntimeSettings:
    """``RuntimeSettings`` from the ``RUNTIME_*`` environment a runtime process would get."""
    values: dict[str, Any] = {
        key.removeprefix("RUNTIME_").lower(): value
        for key, value in env.items()
        if key.startswith("RUNTIME_")
    }
    for field in _JSON_FIELDS:
        if field in values:
            values[field] = orjson.loads(values[field])
    return RuntimeSettings(**values)


async def exchange(
    app: ASGIApp, method: str, path: str, body: bytes | None, sent: Mapping[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    """One request to ``app`` in memory with the `sent` headers: (status, body, headers with
    lower-case names)."""
    path, _, query = path.partition("?")
    headers = [(b"content-length", str(len(body or b"")).encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in sent.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 0),
        "server": ("in-process", 0),
    }
    done = asyncio.Event()
    pending: list[Message] = [{"type": "http.request", "body": body or b"", "more_body": False}]
    status = 500
    answer: dict[str, str] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await done.wait()  # the client "disconnects" once the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            answer.update((k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return status, chunks[0] if len(chunks) == 1 else b"".join(chunks), answer


class InProcessRuntime:
    """A service's ONNX runtime app, started and stopped inside this process."""

    def __init__(self, name: str, env: Mapping[str, str]) -> None:
        self.name = name
        self._env = dict(env)
        self.state: State = "starting"
        self.base_url: str | None = None
        self.restarts = 0
        self.detail = ""
        self.app: ASGIApp | None = None
        self._stack = contextlib.AsyncExitStack()

    @property
    def pid(self) -> int | None:
        return os.getpid() if self.app is not None else None

    def start(self) -> None:
        """Nothing runs until ``wait_ready`` (which builds and starts the app)."""

    async def wait_ready(self, timeout: float) -> bool:
        """Build the app, start its lifespan (the model loads) and wait until it is ready."""
        started = time.monotonic()
        try:
            # the runtime's imports (ONNX Runtime, Pillow...) stay off the event loop
            await asyncio.to_thread(importlib.import_module, "runtimes.onnx.app")
            from runtimes.onnx.app import create_app

            # a lone run never holds the gateway's loop: it serves every other service too
            app = create_app(runtime_settings({**self._env, "RUNTIME_LONE_ON_LOOP_MS": "0"}))
            await self._stack.enter_async_context(app.router.lifespan_context(app))
        except Exception as exc:
            self.state, self.detail = "failed", f"could not start in process: {exc}"
            log.exception("runtime %s: could not start in process", self.name)
            return False
        self.app = app
        while time.monotonic() - started < timeout:
            status, _, _ = await exchange(app, "GET", _READY_PATH, None, {})
            if status == 200:
                self.state, self.base_url = "ready", f"in-process://{self.name}"
                log.info(
                    "runtime %s: ready in process in %.2f s",
                    self.name,
                    time.monotonic() - started,
                )
                return True
            live, body, _ = await exchange(app, "GET", _LIVE_PATH, None, {})
            if status != 503 or live != 200:
                self.state, self.detail = "failed", body.decode("utf-8", "replace")
                return False
            await asyncio.sleep(0.01)
        self.state, self.detail = "failed", f"not ready after {timeout:.0f} s"
        return False

    async def stop(self) -> None:
        """Answer what is queued, then release the model."""
        self.state, self.base_url = "stopped", None
        await self._stack.aclose()
        self.app = None
