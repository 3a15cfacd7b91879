"""SessionStore: dashboard sessions in memory, session id -> the credential its user logged in with.

Only a SHA-256 digest of each session id is kept as the key, so the table cannot be used to forge
a cookie. Sessions expire after a fixed time and the table is bounded (the oldest go first).
A restart of the gateway ends every session.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.auth import hash_token


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in dashboard: the ``Authorization`` header value to send for it, until `expires`."""

    authorization: str
    expires: float


class SessionStore:
    """Bounded, expiring map of session ids (by digest) to sessions."""

    def __init__(
        self,
        ttl: float,
        *,
        max_sessions: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    @property
    def ttl(self) -> float:
        return self._ttl

    def create(self, authorization: str) -> str:
        """A new session for `authorization`; returns its id (the cookie's value)."""
        now = self._clock()
        self._drop_expired(now)
        while len(self._sessions) >= self._max:
            self._sessions.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        self._sessions[hash_token(session_id)] = Session(authorization, now + self._ttl)
        return session_id

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, or None (unknown or expired)."""
        key = hash_token(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._sessions[key]
            return None
        return session

    def delete(self, session_id: str) -> None:
        self._sessions.pop(hash_token(session_id), None)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]
