"""A real WebDAV server for the tests: WsgiDAV (tests/webdav_server.py) on a free loopback port.

Import the `webdav` fixture into a conftest. Each server serves its own temporary folder under
``/dav/`` to one user with HTTP Basic auth; it is stopped (and its process group) even when a
test fails. A `WebDavProcess` may refuse ``Depth: infinity`` (``finite_depth``) or serve ``tls``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port

USER = "scientist"
PASSWORD = "dav-test-password"  # a throwaway credential for the local test server


@dataclass(frozen=True)
class DavServer:
    """A running WebDAV server: its URL (the ``/dav/`` share), credentials and folder on disk."""

    url: str
    folder: Path
    login: str = USER
    password: str = PASSWORD

    def client(self, *, verify: bool = True) -> httpx.Client:
        """A plain HTTP client of the server (the tests' "user" uploading files)."""
        auth = (self.login, self.password)
        return httpx.Client(base_url=self.url, auth=auth, timeout=30, verify=verify)

    def new_bucket(self) -> str:
        """A fresh top-level folder name (each test its own, on the one server)."""
        return f"t-{uuid.uuid4().hex[:12]}"


class WebDavProcess:
    """One WsgiDAV process over `folder`."""

    def __init__(
        self, folder: Path, *, finite_depth: bool = False, tls: tuple[Path, Path] | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        scheme = "https" if tls else "http"
        self.server = DavServer(f"{scheme}://127.0.0.1:{self.port}/dav/", folder)
        self._finite = finite_depth
        self._tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, str(ROOT / "tests" / "webdav_server.py"), "--port", str(self.port),
            "--root", str(self.server.folder), "--user", USER, "--password", PASSWORD,
            *(["--finite-depth"] if self._finite else []),
            *(["--cert", str(self._tls[0]), "--key", str(self._tls[1])] if self._tls else []),
        ]  # fmt: skip
        log_path = self.server.folder.parent / f"wsgidav-{self.port}.log"
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait(log_path)
        except BaseException:
            self.stop()
            raise

    def _wait(self, log_path: Path) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"wsgidav exited with {code}:\n{log_path.read_text()}")
            try:
                with self.server.client(verify=False) as client:
                    if client.request("PROPFIND", "", headers={"Depth": "0"}).status_code == 207:
                        return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"wsgidav not serving:\n{log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def webdav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DavServer]:
    """One WebDAV server for the session (each test takes its own `DavServer.new_bucket`)."""
    server = WebDavProcess(tmp_path_factory.mktemp("webdav") / "dav")
    server.start()
    try:
        yield server.server
    finally:
        server.stop()
