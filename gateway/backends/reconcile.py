"""Periodic: a background task that runs a coroutine every few seconds until stopped.

The Kubernetes backends start one lazily (on their first deploy, inside the running loop) to
repair drift and refresh what they know of their objects, and stop it in `aclose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("gateway.reconcile")


class Periodic:
    """Runs `fn` every `interval` seconds; an error is logged and the next round goes on."""

    def __init__(self, name: str, interval: float, fn: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self.interval = interval
        self._fn = fn
        self._task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        """Start the loop if it is not running (needs a running event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._fn()
            except Exception as exc:  # never let the loop die: the next round may succeed
                log.warning("%s: %s", self.name, exc)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
