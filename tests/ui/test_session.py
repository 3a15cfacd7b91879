"""The dashboard's session: login as the API checks credentials, the cookie, the bridge, the files.

In process, through `httpx.ASGITransport` (the browser tests meet the same code through a real
gateway process and a real Chromium).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from gateway.app import create_app
from gateway.config import Settings
from gateway.ui import SESSION_COOKIE, SessionStore
from gateway.ui.assets import Assets

ADMIN = "session-admin-" + "5" * 40


async def _client(settings: Settings, base_url: str) -> httpx.AsyncClient:
    app = create_app(settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr(ADMIN))
    async with await _client(settings, "http://testserver") as client:
        yield client


async def _login(client: httpx.AsyncClient) -> httpx.Response:
    answer = await client.post("/ui/session", json={"token": ADMIN})
    assert answer.status_code == 200, answer.text
    return answer


async def test_login_answers_an_httponly_samesite_strict_cookie(client: httpx.AsyncClient) -> None:
    answer = await _login(client)
    assert answer.json() == {"auth_required": True, "authenticated": True}
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the HTTPS test
    assert ADMIN not in cookie
    assert ADMIN not in answer.text


async def test_the_cookie_is_secure_over_https(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr(ADMIN))
    async with await _client(settings, "https://testserver") as client:
        answer = await _login(client)
    assert "Secure" in answer.headers["set-cookie"]


async def test_the_cookie_opens_what_the_admin_token_opens(client: httpx.AsyncClient) -> None:
    assert (await client.get("/system/services")).status_code == 401
    assert (await client.get("/ui/session")).json()["authenticated"] is False
    await _login(client)
    listed = await client.get("/system/services")
    assert listed.status_code == 200
    assert listed.json() == []
    assert (await client.get("/ui/session")).json()["authenticated"] is True


async def test_login_takes_the_admins_basic_credentials(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, admin_token=SecretStr(ADMIN), admin_password=SecretStr("pass-word")
    )
    async with await _client(settings, "http://testserver") as client:
        wrong = await client.post("/ui/session", json={"username": "oscar", "password": "nope"})
        assert wrong.status_code == 403
        assert "set-cookie" not in wrong.headers
        answer = await client.post(
            "/ui/session", json={"username": "oscar", "password": "pass-word"}
        )
        assert answer.status_code == 200, answer.text
        assert "pass-word" not in answer.headers["set-cookie"]
        assert (await client.get("/system/services")).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"token": "wrong"}, 403),
        ({"token": ""}, 400),
        ({"username": "a:b", "password": "x"}, 400),
        ({"token": ADMIN, "password": "x"}, 400),
        ([ADMIN], 400),
    ],
    ids=["wrong-token", "empty-token", "colon-in-user", "both", "not-an-object"],
)
async def test_bad_credentials_get_no_cookie(
    client: httpx.AsyncClient, body: object, status: int
) -> None:
    answer = await client.post("/ui/session", json=body)
    assert answer.status_code == status
    assert set(answer.json()["error"]) == {"code", "message"}
    assert "set-cookie" not in answer.headers


async def test_login_takes_json_only(client: httpx.AsyncClient) -> None:
    """A cross-site HTML form cannot send JSON: no login CSRF."""
    answer = await client.post("/ui/session", data={"token": ADMIN})
    assert answer.status_code == 415
    assert "set-cookie" not in answer.headers


async def test_a_write_through_the_cookie_needs_the_dashboard_header(
    client: httpx.AsyncClient,
) -> None:
    await _login(client)
    # without X-Gateway-UI the cookie is not bridged: the API sees no credentials
    bare = await client.post("/system/services/nope/token")
    assert bare.status_code == 401
    # with it, the request is the admin's: it reaches the handler (no such service)
    bridged = await client.post("/system/services/nope/token", headers={"X-Gateway-UI": "1"})
    assert bridged.status_code == 404
    assert bridged.json()["error"]["code"] == "service_not_found"


async def test_an_authorization_header_wins_over_the_cookie(client: httpx.AsyncClient) -> None:
    await _login(client)
    answer = await client.get("/system/services", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 403


async def test_logout_ends_the_session(client: httpx.AsyncClient) -> None:
    await _login(client)
    session_id = client.cookies[SESSION_COOKIE]
    answer = await client.delete("/ui/session", headers={"X-Gateway-UI": "1"})
    assert answer.status_code == 204
    assert f'{SESSION_COOKIE}=""' in answer.headers["set-cookie"]
    assert "Max-Age=0" in answer.headers["set-cookie"]
    # the old cookie, sent again, opens nothing
    again = await client.get(
        "/system/services", headers={"Cookie": f"{SESSION_COOKIE}={session_id}"}
    )
    assert again.status_code == 401


async def test_without_an_admin_token_no_login_is_needed(tmp_path: Path) -> None:
    async with await _client(Settings(data_dir=tmp_path), "http://testserver") as client:
        assert (await client.get("/ui/session")).json() == {
            "auth_required": False,
            "authenticated": True,
        }


def test_a_session_expires_after_its_ttl() -> None:
    now = [100.0]
    sessions = SessionStore(60, clock=lambda: now[0])
    session_id = sessions.create("Bearer x")
    now[0] = 159.9
    assert sessions.get(session_id) is not None
    now[0] = 160.0
    assert sessions.get(session_id) is None
    assert len(sessions) == 0


def test_the_session_table_is_bounded_oldest_first() -> None:
    sessions = SessionStore(60, max_sessions=3)
    ids = [sessions.create(f"Bearer {n}") for n in range(5)]
    assert len(sessions) == 3
    assert [sessions.get(i) is not None for i in ids] == [False, False, True, True, True]


def test_the_session_table_keeps_no_session_id() -> None:
    sessions = SessionStore(60)
    session_id = sessions.create("Bearer x")
    assert session_id not in repr(sessions._sessions)


async def test_the_page_carries_a_strict_content_security_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    redirect = await client.get("/ui")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/ui/"


async def test_a_file_is_revalidated_by_its_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/ui/app.js")
    assert first.headers["content-type"].startswith("text/javascript")
    again = await client.get("/ui/app.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("path", ["/ui/nope.js", "/ui/..%2Fapp.py", "/ui/%2E%2E/routes.py"])
async def test_only_the_shipped_files_are_served(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


async def test_every_file_the_page_refers_to_is_shipped_and_nothing_is_external(
    client: httpx.AsyncClient,
) -> None:
    names = Assets().names()
    referenced = set()
    for name in names:
        text = (await client.get(f"/ui/{name}")).text
        refs = re.findall(r"""(?:src|href)="([^"#]+)"|from '([^']+)'|url\(([^)]+)\)""", text)
        for ref in (r for group in refs for r in group if r):
            assert not re.match(r"^(https?:)?//", ref), f"{name} refers outside: {ref}"
            referenced.add(ref.removeprefix("./"))
    assert referenced
    assert referenced <= set(names), referenced - set(names)
