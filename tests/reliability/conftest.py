"""Fixtures of the reliability suite: a real `gateway serve` process with the digits service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from tests.support import DIGITS_YAML, ServerProcess, gateway_process

SERVICE = "digits"


@contextmanager
def serve_digits(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[ServerProcess]:
    """`gateway serve -f digits/service.yaml` on a free port, with `env` on top (GATEWAY_...)."""
    folder = tmp_path_factory.mktemp("gateway")
    env = {"GATEWAY_RESTART_BACKOFF_MAX": "0.5", **env}
    with gateway_process(folder, DIGITS_YAML, env=env) as server:
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
