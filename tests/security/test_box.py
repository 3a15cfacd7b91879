"""The script box, in-process: each run as a user of its own, nothing of a run outlives it, and
what a script leaves in its output folder is read without following links."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from runtimes.script.app import create_app
from runtimes.script.config import ScriptSettings

boxed = pytest.mark.skipif(os.geteuid() != 0, reason="scripts are boxed only under root")


async def _client(script: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ScriptSettings(name="box", script=script, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
            yield client


async def _log(script: str, **settings: Any) -> str:
    async for client in _client(script, **settings):
        response = await client.post("/run", params={"key": "b/in.txt"}, content=b"x")
        assert response.status_code == 200, response.text
        return str(response.json()["log"])
    raise AssertionError("unreachable")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@boxed
async def test_each_run_has_its_own_user_and_private_folder() -> None:
    script = 'id -u; id -g; id -G; stat -c "%u %a" "$HOME"; [ "$HOME" = "$PWD" ] && echo home=cwd\n'
    uid, gid, groups, folder, same = (await _log(script)).split("\n")[:5]
    assert int(uid) not in (0, os.geteuid()) and gid == uid and groups == uid
    assert folder == f"{uid} 700"
    assert same == "home=cwd"


@boxed
async def test_a_process_that_leaves_the_session_is_killed_with_the_run() -> None:
    log = await _log('setsid sleep 300 </dev/null >/dev/null 2>&1 &\necho "escaped=$!"\n')
    escaped = int(log.split("escaped=", 1)[1].split()[0])
    deadline = time.monotonic() + 10
    while _alive(escaped) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(escaped)


async def test_the_script_environment_holds_only_the_allowlist(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_TOKEN", "must-not-be-seen")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "must-not-be-seen")
    log = await _log("env\n", environment={"DECLARED": "yes"})
    names = {line.split("=", 1)[0] for line in log.splitlines() if "=" in line}
    assert "must-not-be-seen" not in log
    assert names - {"PWD", "OLDPWD", "SHLVL", "_"} <= {
        "PATH", "HOME", "LANG", "TZ", "TMPDIR", "DECLARED", "INPUT_FILE_PATH", "TMP_INPUT_DIR",
        "TMP_OUTPUT_DIR", "STORAGE_OBJECT_KEY",
    }  # fmt: skip
    assert "DECLARED" in names and "RUNTIME_SCRIPT" not in names


async def test_links_in_the_output_folder_are_not_followed() -> None:
    script = 'ln -s /etc/hostname "$TMP_OUTPUT_DIR/leak"\necho fine > "$TMP_OUTPUT_DIR/ok.txt"\n'
    async for client in _client(script):
        response = await client.post("/run", content=b"x")
        assert response.status_code == 200, response.text
        assert [f["name"] for f in response.json()["files"]] == ["ok.txt"]


async def test_an_output_folder_replaced_by_a_link_gives_nothing_back() -> None:
    script = 'rmdir "$TMP_OUTPUT_DIR" && ln -s /etc "$TMP_OUTPUT_DIR"\n'
    async for client in _client(script):
        response = await client.post("/run", content=b"x")
        assert response.status_code == 200, response.text
        assert response.json()["files"] == []


@boxed
async def test_a_root_runtime_that_cannot_box_refuses_to_run_scripts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async for client in _client("id -u\n", box_uid_base=4_294_000_000):  # past the uid map's end
        response = await client.post("/run", content=b"x")
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "script_not_boxed"
    assert "scripts will NOT run" in caplog.text
