"""UiRoutes: ``GET /ui/`` and its files, and the dashboard's session (log in, who am I, log out).

Logging in takes the same credentials as the API (the admin token, or HTTP Basic where the
gateway accepts it) and checks them with the API's own `Authenticator`; the browser gets only an
opaque session cookie (``HttpOnly``, ``SameSite=Strict``), which `SessionBridge` maps back.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.auth import Authenticator
from gateway.errors import BadRequest, GatewayError, UnsupportedMediaType
from gateway.limits import read_body
from gateway.system import json_response
from gateway.ui.assets import Assets
from gateway.ui.bridge import SESSION_COOKIE
from gateway.ui.sessions import SessionStore

_MAX_LOGIN_BYTES = 8 * 1024


class UiRoutes:
    """Handlers of ``/ui/...``."""

    def __init__(self, sessions: SessionStore, auth: Authenticator, assets: Assets) -> None:
        self._sessions = sessions
        self._auth = auth
        self._assets = assets

    def routes(self) -> list[Route]:
        return [
            Route("/ui", self.redirect, methods=["GET"]),
            Route("/ui/", self.index, methods=["GET"]),
            Route("/ui/session", self.whoami, methods=["GET"]),
            Route("/ui/session", self.login, methods=["POST"]),
            Route("/ui/session", self.logout, methods=["DELETE"]),
            Route("/ui/{file}", self.file, methods=["GET"]),
        ]

    async def redirect(self, request: Request) -> Response:
        """GET /ui: to /ui/."""
        return RedirectResponse("/ui/", status_code=308)

    async def index(self, request: Request) -> Response:
        """GET /ui/: the dashboard's page."""
        return self._assets.response(request, "index.html")

    async def file(self, request: Request) -> Response:
        """GET /ui/{file}: one of the dashboard's static files."""
        return self._assets.response(request, request.path_params["file"])

    async def whoami(self, request: Request) -> Response:
        """GET /ui/session: does the gateway need a login, and does this request have one?"""
        return json_response(
            {"auth_required": self._auth.enabled, "authenticated": self._is_admin(request)}
        )

    async def login(self, request: Request) -> Response:
        """POST /ui/session: check the credentials as the API does; answer a session cookie."""
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise UnsupportedMediaType("send the credentials as application/json")
        authorization = _authorization(await read_body(request, _MAX_LOGIN_BYTES))
        if not self._auth.enabled:
            return json_response({"auth_required": False, "authenticated": True})
        probe = Request(
            {
                "type": "http",
                "method": "POST",
                "path": request.url.path,
                "headers": [(b"authorization", authorization.encode("latin-1"))],
            }
        )
        self._auth.require_admin(probe)  # 401/403 exactly as the API answers them
        response = json_response({"auth_required": True, "authenticated": True})
        response.set_cookie(
            SESSION_COOKIE,
            self._sessions.create(authorization),
            max_age=int(self._sessions.ttl),
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """DELETE /ui/session: forget this browser's session."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            self._sessions.delete(session_id)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    def _is_admin(self, request: Request) -> bool:
        try:
            self._auth.require_admin(request)
        except GatewayError:
            return False
        return True


def _authorization(body: bytes) -> str:
    """The ``Authorization`` value for ``{"token"}`` or ``{"username", "password"}``."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("the body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest('send {"token": ...} or {"username": ..., "password": ...}')
    token, username, password = data.get("token"), data.get("username"), data.get("password")
    if isinstance(token, str) and token.strip() and username is None and password is None:
        return f"Bearer {_header_safe(token.strip())}"
    if isinstance(username, str) and isinstance(password, str) and token is None:
        if ":" in username or not username:
            raise BadRequest("the username must be non-empty and without ':'")
        pair = f"{username}:{password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    raise BadRequest('send {"token": ...} or {"username": ..., "password": ...}')


def _header_safe(token: str) -> str:
    if not token.isascii() or not token.isprintable():
        raise BadRequest("the token must be printable ASCII")
    return token
