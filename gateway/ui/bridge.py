"""SessionBridge: ASGI middleware that turns the dashboard's session cookie into credentials.

A request that carries no ``Authorization`` header but a live session cookie gets the header its
user logged in with, and then meets the same checks as any API client. Requests that change
something (any method but GET/HEAD/OPTIONS) are bridged only when they also carry the header
``X-Gateway-UI``, which a page of another site cannot send without a CORS preflight (that the
gateway never grants): with ``SameSite=Strict`` this is the dashboard's CSRF defence.
"""

from __future__ import annotations

from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.ui.sessions import SessionStore

SESSION_COOKIE = "gateway_session"
UI_HEADER = "x-gateway-ui"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SessionBridge:
    """Adds ``Authorization`` from the session cookie (see the module docstring)."""

    def __init__(self, app: ASGIApp, sessions: SessionStore) -> None:
        self._app = app
        self._sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and len(self._sessions):
            scope = self._bridged(scope)
        await self._app(scope, receive, send)

    def _bridged(self, scope: Scope) -> Scope:
        cookie = None
        from_ui = scope["method"] in _SAFE_METHODS
        for key, value in scope["headers"]:
            if key == b"authorization":
                return scope  # what the client sends itself wins
            if key == b"cookie":
                cookie = value
            elif key == UI_HEADER.encode():
                from_ui = True
        if cookie is None or not from_ui:
            return scope
        session_id = cookie_parser(cookie.decode("latin-1")).get(SESSION_COOKIE)
        if not session_id:
            return scope
        session = self._sessions.get(session_id)
        if session is None:
            return scope
        headers = [*scope["headers"], (b"authorization", session.authorization.encode("latin-1"))]
        return {**scope, "headers": headers}
