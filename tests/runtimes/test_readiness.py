"""Readiness signalled (``runtimes.readiness``): a real runtime process says "ready" on the pipe
it inherited once its model serves; the starting side wakes on that line or on the pipe closing."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from runtimes.readiness import READY_FD_ENV, ReadyPipe
from tests.runtimes.conftest import service_settings
from tests.support import ROOT, digit_png, digits_holdout, free_port

SAY_READY = (
    "import sys; from runtimes.readiness import notify_ready; notify_ready(int(sys.argv[1]))"
)


@contextmanager
def _child(
    argv: list[str], fd: int, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env={**os.environ, **env}, pass_fds=(fd,), stdout=out, stderr=out
        )
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _runtime_env(port: int, fd: int) -> dict[str, str]:
    settings = service_settings("digits")
    return {
        "RUNTIME_NAME": settings.name,
        "RUNTIME_MODEL_PATH": str(settings.model_path),
        "RUNTIME_LABELS_PATH": str(settings.labels_path),
        "RUNTIME_PREPROCESS": settings.preprocess.model_dump_json(),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": str(port),
        READY_FD_ENV: str(fd),
    }


def _confirmed_ready(client: httpx.Client) -> bool:
    for _ in range(1000):
        try:
            return client.get("/v2/health/ready").status_code == 200
        except httpx.ConnectError:
            continue
    return False


def test_a_runtime_says_ready_once_its_model_serves(tmp_path: Path) -> None:
    read, write = os.pipe()
    port = free_port()
    argv = [sys.executable, "-m", "runtimes.onnx"]
    with _child(argv, write, _runtime_env(port, write), tmp_path / "runtime.log") as proc:
        os.close(write)
        readable, _, _ = select.select([read], [], [], 120)  # a bound, not a synchronisation
        line = os.read(read, 64) if readable else b"(nothing)"
        os.close(read)
        assert line == b"ready\n", (tmp_path / "runtime.log").read_text()
        assert proc.poll() is None
        x_test, y_test = digits_holdout()
        png = digit_png(x_test[2], ink_on_paper=False)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            # The model serves once the line is written; the HTTP socket may be bound a moment
            # later (uvicorn binds after the lifespan starts), so, like the gateway, confirm.
            assert _confirmed_ready(client)
            answer = client.post("/predict", content=png, headers={"content-type": "image/png"})
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["label"] == str(y_test[2])


async def test_the_starting_side_hears_the_line(tmp_path: Path) -> None:
    pipe = ReadyPipe()
    argv = [sys.executable, "-c", SAY_READY, str(pipe.child_fd)]
    try:
        with _child(argv, pipe.child_fd, {}, tmp_path / "child.log") as proc:
            pipe.child_started()
            for _ in range(600):  # at most a minute: each wait returns at once once heard
                if pipe.heard:
                    break
                await pipe.wait(0.1)
            assert pipe.heard
            assert proc.wait(60) == 0
    finally:
        pipe.close()


async def test_a_runtime_that_exits_closes_the_pipe(tmp_path: Path) -> None:
    pipe = ReadyPipe()
    argv = [sys.executable, "-c", "raise SystemExit(3)"]
    try:
        with _child(argv, pipe.child_fd, {}, tmp_path / "child.log") as proc:
            pipe.child_started()
            assert proc.wait(60) == 3
            await pipe.wait(60)  # returns at once: the pipe is closed
            assert pipe.heard
    finally:
        pipe.close()


async def test_silence_is_only_a_timeout() -> None:
    pipe = ReadyPipe()  # the write end stays open here: nobody will write
    try:
        await pipe.wait(0.01)
        assert not pipe.heard
    finally:
        pipe.close()
    pipe.close()  # closing twice is harmless
