"""The OSCAR-style script runtime: env contract, outputs, logs, failures and the time limit."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator

import httpx

from runtimes.script.app import create_app
from runtimes.script.config import ScriptSettings

ECHO = """
echo "input=$INPUT_FILE_PATH key=$STORAGE_OBJECT_KEY"
name=$(basename "$INPUT_FILE_PATH")
tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$name.upper"
mkdir -p "$TMP_OUTPUT_DIR/sub"
printf '%s' "$STORAGE_OBJECT_KEY" > "$TMP_OUTPUT_DIR/sub/key.txt"
echo done >&2
"""


async def _client(script: str, **settings: float) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ScriptSettings(name="echo", script=script, **settings))  # type: ignore[arg-type]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://runtime") as client:
            yield client


async def test_health() -> None:
    async for client in _client(ECHO):
        assert (await client.get("/v2/health/ready")).status_code == 200
        assert (await client.get("/v2/health/live")).status_code == 200


async def test_script_sees_the_oscar_environment_and_its_files_come_back() -> None:
    async for client in _client(ECHO):
        response = await client.post("/run", params={"key": "bucket/in/note.txt"}, content=b"hi")
        assert response.status_code == 200, response.text
        body = response.json()
        files = {f["name"]: base64.b64decode(f["data"]) for f in body["files"]}
        assert files == {"note.txt.upper": b"HI", "sub/key.txt": b"bucket/in/note.txt"}
        assert "key=bucket/in/note.txt" in body["log"]
        assert "/note.txt" in body["log"] and "done" in body["log"]


async def test_failing_script_is_422_with_its_log() -> None:
    async for client in _client("echo 'cannot read this input' >&2\nexit 3\n"):
        response = await client.post("/run", params={"key": "b/x.bin"}, content=b"x")
        assert response.status_code == 422
        error = response.json()["error"]
        assert error["code"] == "script_failed"
        assert "status 3" in error["message"]
        assert "cannot read this input" in error["log"]


async def test_time_limit_kills_the_whole_process_group() -> None:
    script = 'sleep 30 &\necho "child=$!"\necho started\nwait\n'
    async for client in _client(script, item_timeout=0.5):
        started = time.monotonic()
        response = await client.post("/run", params={"key": "b/slow.bin"}, content=b"x")
        assert response.status_code == 504
        error = response.json()["error"]
        assert error["code"] == "script_timeout"
        assert "started" in error["log"]
        assert time.monotonic() - started < 25  # not the sleep's 30 s
        child = int(error["log"].split("child=", 1)[1].split()[0])
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the script's background child survived"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not reaped yet
        return stat.read().split()[2] != "Z"
