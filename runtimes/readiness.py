"""Readiness, signalled: a runtime tells the process that started it the moment it serves.

Both ends are here. The starting side (the gateway's local backend) makes a `ReadyPipe` and
hands its write end to the runtime, whose ``RUNTIME_READY_FD`` names it; the runtime writes one
line there once its model is loaded and its listeners are up (`notify_ready`), then closes it.
The starting side still confirms with ``GET /v2/health/ready``: the line only wakes it up at
once instead of at its next poll. A runtime that never writes (an older one, a script runtime)
is simply polled; a runtime that exits closes the pipe, which wakes the waiter too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

READY_FD_ENV = "RUNTIME_READY_FD"
_LINE = b"ready\n"


def notify_ready(fd: int) -> None:
    """Runtime side: say "ready" on the inherited pipe ``fd`` once, then close it."""
    with contextlib.suppress(OSError):  # the starting side is gone: nobody to tell
        os.write(fd, _LINE)
    with contextlib.suppress(OSError):
        os.close(fd)


class ReadyPipe:
    """Starting side: a pipe whose write end (`child_fd`) the runtime inherits."""

    def __init__(self) -> None:
        self._read, self.child_fd = os.pipe()
        os.set_blocking(self._read, False)
        self._heard = False  # the line came, or the runtime closed its end: nothing more to wait
        self._child_open = True

    @property
    def heard(self) -> bool:
        """Whether the runtime said "ready" or closed its end (then `wait` no longer wakes)."""
        return self._heard

    def child_started(self) -> None:
        """Close this process's copy of the write end (the runtime holds its own now)."""
        if self._child_open:
            os.close(self.child_fd)
            self._child_open = False

    async def wait(self, timeout: float) -> None:
        """Return once the runtime says it is ready (or closes its end), else after `timeout`."""
        if self._heard:
            await asyncio.sleep(timeout)
            return
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        loop.add_reader(self._read, wake)
        try:
            await asyncio.wait_for(woken, timeout)
        except TimeoutError:
            return
        finally:
            loop.remove_reader(self._read)
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, len(_LINE))
            self._heard = True

    def close(self) -> None:
        """Close both ends still open here (again: nothing)."""
        self.child_started()
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
