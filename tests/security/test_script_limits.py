"""Scripts that try to take more than their limits are stopped, and the gateway keeps serving:
a fork bomb (processes), a memory hog (address space), a huge file (file size)."""

from __future__ import annotations

import contextlib
import os

import httpx
import psutil
import pytest

from runtimes.script.box import DEFAULT_UID_BASE, SLOTS
from tests.security.conftest import SecretGateway
from tests.support import digit_png, digits_holdout

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the process limit needs the box")


def _run(gateway: SecretGateway, service: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.server.url}/predict/{service}",
        content=b"x",
        headers={"Content-Type": "application/octet-stream"},
        timeout=60,
    )


def _still_serving(gateway: SecretGateway) -> None:
    """A following request to a model answers, and a script service still runs scripts."""
    x, y = digits_holdout()
    png = digit_png(x[0], ink_on_paper=True)
    answer = httpx.post(
        f"{gateway.server.url}/predict/digits",
        content=png,
        headers={"Content-Type": "image/png"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == str(y[0])
    assert _run(gateway, "dump").status_code == 200


def _runtime_pid(gateway: SecretGateway, service: str) -> int:
    for child in psutil.Process(gateway.server.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.environ().get("RUNTIME_NAME") == service:
                return child.pid
    raise AssertionError(f"no runtime process for {service}")


def _run_processes(runtime_pid: int) -> list[int]:
    """Processes (zombies included) of the users that runtime's script runs get."""
    first = DEFAULT_UID_BASE + runtime_pid * SLOTS
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as status:
                    uid = next(int(line.split()[1]) for line in status if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            if first <= uid < first + SLOTS:
                found.append(int(entry))
    return found


def test_a_fork_bomb_meets_its_process_limit_and_is_killed(gateway: SecretGateway) -> None:
    response = _run(gateway, "bomb")
    assert response.status_code in (422, 504), response.text  # the shell gave up, or its time did
    error = response.json()["error"]
    assert error["code"] in ("script_failed", "script_timeout")
    assert "Cannot fork" in error["log"]  # the shell hit RLIMIT_NPROC, not the host's limit
    assert _run_processes(_runtime_pid(gateway, "bomb")) == []
    _still_serving(gateway)


def test_a_memory_hog_meets_its_memory_limit(gateway: SecretGateway) -> None:
    response = _run(gateway, "hog")
    assert response.status_code == 422, response.text
    assert "MemoryError" in response.json()["error"]["log"]
    _still_serving(gateway)


def test_a_huge_file_meets_its_file_size_limit(gateway: SecretGateway) -> None:
    response = _run(gateway, "huge-file")
    assert response.status_code == 422, response.text
    assert "file size limit" in response.json()["error"]["message"]
    _still_serving(gateway)
