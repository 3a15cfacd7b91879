"""Informer: one watch per kind keeps the latest state of our objects, so state follows the cluster.

It lists the kind's objects (our label selector, the backend's namespace), then watches from the
list's resourceVersion, resuming each stream from the last version it saw; a ``410 Gone`` (the
version was compacted away) lists again. Every failure (the API server down, a 403, a timeout) is
logged and retried with a capped backoff: the loop never dies and never raises into a request.
Backends read `get` for their state and `wait` for a condition (readiness) with a deadline.

The stream is read in a daemon thread (the blocking official client); `stop` shuts its socket down,
so no thread outlives the backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes.client.rest import ApiException  # type: ignore[import-untyped]

from gateway.errors import GatewayError
from gateway.kube.client import KubeApi, Obj
from gateway.kube.errors import translate
from gateway.kube.watch import Gone, follow

log = logging.getLogger("gateway.kube")

T = TypeVar("T")
MAX_BACKOFF = 30.0


class Informer:
    """The latest object of each name of one kind, kept current by a list and a resumed watch."""

    def __init__(
        self,
        kube: KubeApi,
        what: str,
        list_fn: Callable[[], Callable[..., Any]],
        *,
        label_selector: str,
        backoff: float = 0.5,
    ) -> None:
        self.what = what
        self._kube = kube
        self._list_fn = list_fn  # called inside the error handling: the client loads lazily
        self._selector = label_selector
        self._backoff = backoff
        self._objects: dict[str, Obj] = {}
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._responses: set[Any] = set()
        self._stopped = threading.Event()
        self.lists = 0  # how many times it listed (1 + one per 410 Gone or failure)

    def start(self) -> None:
        """Start listing and watching (needs a running event loop); idempotent."""
        if self._task is None or self._task.done():
            self._stopped.clear()
            self._task = asyncio.create_task(self._run(), name=f"watch {self.what}")

    def get(self, name: str) -> Obj | None:
        return self._objects.get(name)

    def record(self, obj: Obj) -> None:
        """What a write answered: kept unless the watch already delivered a newer version."""
        name = (obj.get("metadata") or {}).get("name")
        if name and _version(obj) >= _version(self._objects.get(name)):
            self._set(name, obj)

    def forget(self, name: str) -> None:
        self._objects.pop(name, None)

    async def wait(self, name: str, done: Callable[[Obj], bool], timeout: float) -> Obj | None:
        """The object once `done(obj)` holds, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            obj = self._objects.get(name)
            if obj is not None and done(obj):
                return obj
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _set(self, name: str, obj: Obj | None) -> None:
        if obj is None:
            self._objects.pop(name, None)
        else:
            self._objects[name] = obj
        self._changed.set()
        self._changed = asyncio.Event()

    def _on_event(self, event: Obj) -> None:
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name")
        if name:
            self._set(name, None if event.get("type") == "DELETED" else obj)

    async def _run(self) -> None:
        delay = self._backoff
        while True:
            try:
                await self._list_and_watch()
            except Gone as exc:
                log.info("watch %s: %s; listing again", self.what, exc)
                continue
            except ApiException as exc:
                error: GatewayError | Exception = translate(exc, f"watch {self.what}")
            except GatewayError as exc:
                error = exc
            except Exception as exc:  # a bug must not end the watch: log it, go on
                log.exception("watch %s failed", self.what)
                error = exc
            log.warning("watch %s: %s; again in %.1f s", self.what, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)

    async def _list_and_watch(self) -> None:
        list_fn = self._list_fn()
        listing = await self._kube.call(f"list {self.what}", list_fn, label_selector=self._selector)
        self.lists += 1
        items = {o["metadata"]["name"]: o for o in listing.get("items") or []}
        for name in set(self._objects) - set(items):
            self._set(name, None)
        for name, obj in items.items():
            self._set(name, obj)
        since = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        loop = asyncio.get_running_loop()

        def emit(event: Obj) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(self._on_event, event)

        settings = self._kube.settings
        seconds = settings.kube_watch_seconds  # then the next resumes from the last version
        kwargs = {"label_selector": self._selector}
        while True:
            started = time.monotonic()
            since = await self._in_thread(
                follow, list_fn, since, seconds, settings, emit, kwargs, self._responses,
                self._stopped,
            )  # fmt: skip
            if time.monotonic() - started < 1.0:  # a server that ends watches at once: no storm
                await asyncio.sleep(self._backoff)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a daemon thread (a stopped backend does not wait for it)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def deliver(setter: Callable[[Any], None], value: Any) -> None:
            def settle() -> None:
                if not future.done():
                    setter(value)

            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle)

        def run() -> None:
            try:
                result = fn(*args)
            except BaseException as exc:
                deliver(future.set_exception, exc)
            else:
                deliver(future.set_result, result)

        threading.Thread(target=run, name=f"watch {self.what}", daemon=True).start()
        return await future

    async def stop(self) -> None:
        """End the watch: cancel the loop and shut the open stream's socket down."""
        task, self._task = self._task, None
        self._stopped.set()
        for response in list(self._responses):
            with contextlib.suppress(Exception):
                response.shutdown()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _version(obj: Obj | None) -> int:
    raw = str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")
    return int(raw) if raw.isdigit() else -1
