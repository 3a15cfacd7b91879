"""Bearer-token checks: the admin token for ``/system/*``, a token per private service.

With no admin token configured the gateway runs open (the local demo), and says so at start.
Tokens are compared as SHA-256 digests with `hmac.compare_digest`; they are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request

from gateway.config import Settings
from gateway.errors import Forbidden, Unauthorized

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_exposure(settings: Settings) -> None:
    """Refuse to serve everyone, unauthenticated, beyond this machine (unless told to)."""
    if settings.admin_token or settings.allow_anonymous:
        return
    if settings.host in LOOPBACK_HOSTS or settings.host.startswith("127."):
        return
    raise Forbidden(
        f"refusing to serve on {settings.host} without GATEWAY_ADMIN_TOKEN: anyone could manage "
        "and call every service. Set GATEWAY_ADMIN_TOKEN (or GATEWAY_ALLOW_ANONYMOUS=true)."
    )


def new_token() -> str:
    """64 hex characters from the OS's CSPRNG."""
    return secrets.token_hex(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(request: Request) -> str | None:
    """The request's bearer token, if it sent one."""
    return parse_bearer(request.headers.get("authorization"))


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization`` header (HTTP) or ``authorization`` metadata (gRPC)."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header: use 'Bearer <token>'")
    return token.strip()


class Authenticator:
    """Decides who may call what."""

    def __init__(self, settings: Settings) -> None:
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        self._admin_hash = hash_token(admin) if admin else None

    @property
    def enabled(self) -> bool:
        return self._admin_hash is not None

    def is_admin(self, token: str | None) -> bool:
        return (
            token is not None
            and self._admin_hash is not None
            and hmac.compare_digest(hash_token(token), self._admin_hash)
        )

    def require_admin(self, request: Request) -> None:
        if not self.enabled:
            return
        token = bearer(request)
        if token is None:
            raise Unauthorized("this route needs the admin token (Authorization: Bearer ...)")
        if not self.is_admin(token):
            raise Forbidden("the token is not the admin token")

    def require_service(
        self, request: Request, name: str, *, public: bool, token_hash: str | None
    ) -> None:
        """A private service needs its own token (or the admin's)."""
        if not self.enabled or public:
            return
        self.check_service(bearer(request), name, public=public, token_hash=token_hash)

    def check_service(
        self, token: str | None, name: str, *, public: bool, token_hash: str | None
    ) -> None:
        """`require_service` for a token that came some other way (gRPC metadata)."""
        if not self.enabled or public:
            return
        if token is None:
            raise Unauthorized(f"service {name!r} is private: send its token as a Bearer token")
        if self.is_admin(token):
            return
        if token_hash is None or not hmac.compare_digest(hash_token(token), token_hash):
            raise Forbidden(f"the token is not valid for service {name!r}")
