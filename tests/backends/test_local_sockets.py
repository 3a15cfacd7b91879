"""The local backend reaches its runtime processes on Unix sockets in a private folder: real
runtime processes (the digits model), the gateway's own proxy, no TCP port for their HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from gateway.backends.local import LocalBackend
from gateway.backends.sockets import MAX_PATH_BYTES, SocketFolder
from gateway.config import Settings
from gateway.proxy import Proxy
from gateway.services import load_file
from tests.support import DIGITS_YAML, digit_png, digits_holdout, gateway_process


@asynccontextmanager
async def _digits(data_dir: Path) -> AsyncIterator[tuple[LocalBackend, Proxy]]:
    """The digits service deployed on a local backend, and a started proxy."""
    settings = Settings(data_dir=data_dir, runtime_threads=1, restart_backoff_max=0.2)
    backend, proxy = LocalBackend(settings), Proxy(settings)
    await proxy.start()
    try:
        await backend.deploy(load_file(DIGITS_YAML).services[0])
        yield backend, proxy
    finally:
        await backend.aclose()
        await proxy.aclose()


async def _predict(backend: LocalBackend, proxy: Proxy) -> int:
    """The label the runtime gives the first held-out digit, through the proxy."""
    png = digit_png(digits_holdout()[0][0], ink_on_paper=False)
    answer = await proxy.forward(
        backend.endpoint("digits"), "POST", "/predict", body=png, content_type="image/png"
    )
    assert answer.status == 200, answer.body
    return int(orjson.loads(answer.body)["predictions"][0]["label"])


async def test_the_runtime_answers_on_its_socket_and_listens_on_no_http_port(
    tmp_path: Path,
) -> None:
    async with _digits(tmp_path) as (backend, proxy):
        state = backend.status("digits")
        assert state.url == f"unix:{tmp_path / 'run' / 'digits.sock'}"
        assert stat.S_ISSOCK((tmp_path / "run" / "digits.sock").stat().st_mode)
        assert await _predict(backend, proxy) == digits_holdout()[1][0]
        pid = backend.pid("digits")
        assert pid is not None
        listening = {
            c.laddr.port
            for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        grpc_target = backend.endpoint("digits").grpc_target
        assert grpc_target is not None
        assert listening == {int(grpc_target.rsplit(":", 1)[1])}  # gRPC only, no HTTP port


async def test_a_runtime_restarted_after_a_crash_answers_on_its_socket_again(
    tmp_path: Path,
) -> None:
    async with _digits(tmp_path) as (backend, proxy):
        first = backend.pid("digits")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        state = backend.status("digits")
        while not (state.restarts >= 1 and state.state == "ready"):  # the restarted one is up
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.05)
            state = backend.status("digits")
        assert backend.pid("digits") not in (None, first)
        assert await _predict(backend, proxy) == digits_holdout()[1][0]


async def test_a_stale_socket_file_does_not_block_the_start(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stale:
        stale.bind(str(folder / "digits.sock"))  # closed without unlinking: what a kill leaves
    async with _digits(tmp_path) as (backend, proxy):
        assert await _predict(backend, proxy) == digits_holdout()[1][0]


def test_the_socket_folder_is_made_private(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir(mode=0o755)
    path = SocketFolder(tmp_path / "run").path("digits")
    assert path == tmp_path / "run" / "digits.sock"
    info = path.parent.stat()
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()


def test_a_socket_folder_that_is_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "run").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(PermissionError, match="not a folder of this user"):
        SocketFolder(tmp_path / "run").path("digits")


def test_a_path_too_long_for_a_socket_moves_to_a_private_temporary_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100) / "run"
    folder = SocketFolder(deep)
    path = folder.path("digits")
    assert len(os.fsencode(path)) <= MAX_PATH_BYTES and path.name == "digits.sock"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    folder.close()
    assert not path.parent.exists()


def test_a_killed_gateway_leaves_no_socket_that_blocks_the_next_one(tmp_path: Path) -> None:
    """SIGKILL for the gateway and its runtime at once leaves the socket file behind; the next
    gateway on the same data folder serves all the same."""
    png = digit_png(digits_holdout()[0][0], ink_on_paper=False)
    with gateway_process(tmp_path, DIGITS_YAML, log_name="first.log") as first:
        (runtime,) = psutil.Process(first.proc.pid).children()
        first.proc.send_signal(signal.SIGSTOP)  # it cannot start another runtime meanwhile
        runtime.kill()
        deadline = time.monotonic() + 30
        while not _dead(runtime):  # a zombie: its stopped parent cannot reap it
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.proc.kill()
        first.proc.wait(30)
    assert stat.S_ISSOCK((tmp_path / "run" / "digits.sock").stat().st_mode)
    with gateway_process(tmp_path, DIGITS_YAML, log_name="second.log") as second:
        answer = httpx.post(
            f"{second.url}/predict/digits",
            content=png,
            headers={"Content-Type": "image/png"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text


def _dead(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
