"""The runtime token: the secret a runtime asks of every caller, so that only its gateway calls it.

The gateway makes one random token per runtime and hands it over in the runtime's environment
(`TOKEN_ENV`; on Kubernetes from a Secret); the runtime then answers only requests that carry it,
in the `TOKEN_HEADER` header (HTTP) or the `TOKEN_METADATA` metadata (gRPC), except its health
routes (`OPEN_PATHS`), which the gateway's readiness poll and Kubernetes probes call. Both sides
import the names and the check from here. A runtime started without a token (by hand, or served
inside the gateway process) asks for none.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.types import ASGIApp, Receive, Scope, Send

from runtimes.errors import Unauthorized, send_error

TOKEN_ENV = "RUNTIME_TOKEN"
TOKEN_HEADER = "X-Runtime-Token"
TOKEN_METADATA = TOKEN_HEADER.lower()  # gRPC metadata keys are lower case
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
OPEN_GRPC_CALLS = frozenset({"ServerLive", "ServerReady"})

_HEADER_KEY = TOKEN_METADATA.encode("latin-1")


def new_token() -> str:
    """A fresh token: 64 hex characters from the OS's CSPRNG."""
    return secrets.token_hex(32)


def token_matches(expected: str, given: str | bytes | None) -> bool:
    """Whether `given` is the `expected` token (constant time)."""
    if given is None:
        return False
    given_bytes = given if isinstance(given, bytes) else given.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected.encode(), given_bytes)


def refusal() -> Unauthorized:
    """The error answered to a caller without the right token (it names no token)."""
    return Unauthorized(f"this runtime answers its gateway only: missing or wrong {TOKEN_HEADER}")


class RequireToken:
    """ASGI middleware: a request outside `OPEN_PATHS` without `token` in `TOKEN_HEADER` gets
    401 in the runtime's error shape (`error_body`); `token` None: every request passes."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self._app = app
        self._token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._token is None or scope["type"] == "lifespan" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        given = next((value for key, value in scope["headers"] if key == _HEADER_KEY), None)
        if token_matches(self._token, given):
            await self._app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket (no runtime serves one): closed, policy
            await send({"type": "websocket.close", "code": 1008})
            return
        await send_error(send, refusal(), scope["path"])
