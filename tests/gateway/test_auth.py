"""Who may call what: the admin by Bearer token or HTTP Basic (as OSCAR's clients log in)."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr
from starlette.requests import Request

from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.errors import Forbidden, Unauthorized
from gateway.tokens import hash_token

ADMIN = "admin-" + "1" * 40


def _request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_password_defaults_to_the_admin_token() -> None:
    auth = Authenticator(Settings(admin_token=SecretStr(ADMIN)))
    auth.require_admin(_request(_basic("oscar", ADMIN)))
    auth.require_admin(_request(f"Bearer {ADMIN}"))
    with pytest.raises(Forbidden):
        auth.require_admin(_request(_basic("someone", ADMIN)))


def test_basic_user_and_password_from_the_settings() -> None:
    settings = Settings(
        admin_token=SecretStr(ADMIN), admin_user="root", admin_password=SecretStr("pw")
    )
    auth = Authenticator(settings)
    auth.require_admin(_request(_basic("root", "pw")))
    with pytest.raises(Forbidden):
        auth.require_admin(_request(_basic("root", ADMIN)))


def test_a_password_alone_turns_auth_on() -> None:
    auth = Authenticator(Settings(admin_password=SecretStr("pw")))
    assert auth.enabled
    with pytest.raises(Unauthorized):
        auth.require_admin(_request(None))
    auth.require_admin(_request(_basic("oscar", "pw")))


@pytest.mark.parametrize("header", ["Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode(),
                                    "Token abc", "Bearer "])  # fmt: skip
def test_malformed_headers_are_401(header: str) -> None:
    auth = Authenticator(Settings(admin_token=SecretStr(ADMIN)))
    with pytest.raises(Unauthorized):
        auth.require_admin(_request(header))


def test_a_service_takes_its_token_or_the_admins_basic_credentials() -> None:
    auth = Authenticator(Settings(admin_token=SecretStr(ADMIN)))
    token = "t" * 64

    def check(header: str) -> None:
        auth.require_service(_request(header), "svc", public=False, token_hash=hash_token(token))

    check(f"Bearer {token}")
    check(_basic("oscar", ADMIN))
    with pytest.raises(Forbidden):
        check(_basic("svc", token))  # Basic is the admin's only
    with pytest.raises(Forbidden):
        check("Bearer " + "u" * 64)
