"""Who may call what: the admin (a Bearer token, or HTTP Basic as OSCAR's clients log in) for
``/system/*``, and a token per private service (or the admin's credentials) for its data routes.

With neither an admin token nor an admin password configured the gateway runs open (the local
demo), and says so at start. Secrets are compared as SHA-256 digests with `hmac.compare_digest`;
they are never logged or echoed. HTTP Basic is the admin's only: user ``GATEWAY_ADMIN_USER``
(default ``oscar``, as OSCAR's), password ``GATEWAY_ADMIN_PASSWORD`` (default: the admin token).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from gateway.config import Settings
from gateway.errors import Forbidden, Unauthorized
from gateway.tokens import hash_token, new_token

__all__ = [
    "Authenticator",
    "Credentials",
    "bearer",
    "check_exposure",
    "hash_token",
    "new_token",
    "parse_credentials",
]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def check_exposure(settings: Settings) -> None:
    """Refuse to serve everyone, unauthenticated, beyond this machine (unless told to)."""
    if settings.admin_token or settings.admin_password or settings.allow_anonymous:
        return
    if settings.host in LOOPBACK_HOSTS or settings.host.startswith("127."):
        return
    raise Forbidden(
        f"refusing to serve on {settings.host} without GATEWAY_ADMIN_TOKEN: anyone could manage "
        "and call every service. Set GATEWAY_ADMIN_TOKEN (or GATEWAY_ALLOW_ANONYMOUS=true)."
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request authenticates with: a Bearer token, or Basic ``user:password``."""

    scheme: Literal["bearer", "basic"]
    secret: str


def credentials(request: Request) -> Credentials | None:
    """The request's credentials, if it sent any; 401 for a malformed Authorization header."""
    return parse_credentials(request.headers.get("authorization"))


def parse_credentials(header: str | None) -> Credentials | None:
    """The credentials of an ``Authorization`` header (HTTP) or ``authorization`` metadata (gRPC);
    `Unauthorized` when it is malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Credentials("bearer", value)
    if scheme.lower() == "basic" and value:
        try:
            pair = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            pair = ""
        if ":" in pair:
            return Credentials("basic", pair)
    raise Unauthorized("malformed Authorization header: use 'Bearer <token>' or HTTP Basic")


def bearer(request: Request) -> str | None:
    """The request's bearer token, if it sent one."""
    found = credentials(request)
    if found is None:
        return None
    if found.scheme != "bearer":
        raise Unauthorized("this route takes a Bearer token")
    return found.secret


class Authenticator:
    """Decides who may call what."""

    def __init__(self, settings: Settings) -> None:
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        self._admin_hash = hash_token(admin) if admin else None
        password = settings.admin_password.get_secret_value() if settings.admin_password else admin
        basic = f"{settings.admin_user}:{password}" if password else None
        self._basic_hash = hash_token(basic) if basic else None

    @property
    def enabled(self) -> bool:
        return self._admin_hash is not None or self._basic_hash is not None

    def is_admin(self, token: str | None) -> bool:
        return (
            token is not None
            and self._admin_hash is not None
            and hmac.compare_digest(hash_token(token), self._admin_hash)
        )

    def admin_credentials(self, found: Credentials | None) -> bool:
        """True for the admin's Bearer token or Basic user and password."""
        if found is None:
            return False
        if found.scheme == "bearer":
            return self.is_admin(found.secret)
        return self._basic_hash is not None and hmac.compare_digest(
            hash_token(found.secret), self._basic_hash
        )

    def is_admin_request(self, request: Request) -> bool:
        """True when the gateway is open or the request carries the admin's credentials."""
        return not self.enabled or self.admin_credentials(credentials(request))

    def require_admin(self, request: Request) -> None:
        if not self.enabled:
            return
        found = credentials(request)
        if found is None:
            raise Unauthorized(
                "this route needs the admin's credentials (Authorization: Bearer <admin token>, "
                "or HTTP Basic)"
            )
        if not self.admin_credentials(found):
            raise Forbidden("the credentials are not the admin's")

    def require_service(
        self, request: Request, name: str, *, public: bool, token_hash: str | None
    ) -> None:
        """A private service needs its own token (or the admin's)."""
        if not self.enabled or public:
            return
        self.check_service(credentials(request), name, public=public, token_hash=token_hash)

    def check_service(
        self, found: Credentials | None, name: str, *, public: bool, token_hash: str | None
    ) -> None:
        """`require_service` for credentials however they came (HTTP header, gRPC metadata)."""
        if not self.enabled or public:
            return
        if found is None:
            raise Unauthorized(f"service {name!r} is private: send its token as a Bearer token")
        if self.admin_credentials(found):
            return
        if (
            found.scheme != "bearer"
            or token_hash is None
            or not hmac.compare_digest(hash_token(found.secret), token_hash)
        ):
            raise Forbidden(f"the credentials are not valid for service {name!r}")
