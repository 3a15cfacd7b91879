"""The circuit breaker: a member that failed is skipped for ``cooldown`` seconds."""

from __future__ import annotations

import time
from collections.abc import Callable


class Breaker:
    """Per key (a service at a member): open (skipped) until a deadline after its last failure."""

    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooldown = cooldown
        self._clock = clock
        self._open_until: dict[str, float] = {}

    def allows(self, key: str) -> bool:
        """Whether it may be tried now."""
        until = self._open_until.get(key)
        if until is None:
            return True
        if self._clock() >= until:
            del self._open_until[key]  # half-open: the next try decides
            return True
        return False

    def failed(self, key: str) -> None:
        """It failed: skip it for the cooldown."""
        self._open_until[key] = self._clock() + self._cooldown

    def succeeded(self, key: str) -> None:
        self._open_until.pop(key, None)
