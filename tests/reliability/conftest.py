"""Fixtures of the reliability suite: a real `gateway serve` process with the digits service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from tests.support import DIGITS_YAML, ServerProcess, free_port, python_command, server_process

SERVICE = "digits"


@contextmanager
def serve_digits(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[ServerProcess]:
    """`gateway serve -f digits/service.yaml` on a free port, with `env` on top (GATEWAY_...)."""
    data_dir = tmp_path_factory.mktemp("gateway")
    port = free_port()
    command = python_command(
        "-m", "gateway", "serve", "-f", str(DIGITS_YAML), "--port", str(port)
    )  # fmt: skip
    env = {"GATEWAY_DATA_DIR": str(data_dir), "GATEWAY_RESTART_BACKOFF_MAX": "0.5", **env}
    with server_process(command, port=port, log_path=data_dir / "gateway.log", env=env) as server:
        yield server


def runtime_pids(gateway: ServerProcess, service: str = SERVICE) -> list[int]:
    """The PIDs of the runtime processes the gateway started for `service`."""
    pids = []
    for child in psutil.Process(gateway.proc.pid).children(recursive=True):
        try:
            if child.environ().get("RUNTIME_NAME") == service:
                pids.append(child.pid)
        except psutil.Error:
            continue
    return pids
