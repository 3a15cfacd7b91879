"""Helpers shared by the tests: repository paths, sample images, real server processes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_YAML = ROOT / "model_images" / "imagenet" / "service.yaml"
DIGITS_YAML = ROOT / "model_images" / "digits" / "service.yaml"
CHINA_LABELS = {"palace", "bell cote", "castle"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@cache
def sample_jpeg(name: str) -> bytes:
    """scikit-learn's bundled photo `name` ("flower.jpg", "china.jpg") as JPEG bytes."""
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image(name)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def digits_holdout() -> tuple[np.ndarray, np.ndarray]:
    """The held-out 25 % of scikit-learn's digits, split as model_images/digits/prepare.py does."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    _, x_test, _, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_test, y_test


def digit_png(pixels: np.ndarray, *, ink_on_paper: bool, scale: int = 4) -> bytes:
    """An 8x8 digit (grey levels 0..16) rendered as a PNG, upscaled `scale` times."""
    grey = (pixels.reshape(8, 8) * (255 / 16)).round().astype(np.uint8)
    if ink_on_paper:  # dark ink on white paper, as a photo of a written digit would be
        grey = 255 - grey
    image = Image.fromarray(grey, mode="L").resize((8 * scale, 8 * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def top_labels(answer: Mapping[str, object]) -> list[str]:
    predictions = answer["predictions"]
    assert isinstance(predictions, list)
    return [str(p["label"]) for p in predictions]


class ServerProcess:
    """A real server process on loopback, stopped (and its children) when done."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def server_process(
    command: Sequence[str],
    *,
    port: int,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/v2/health/ready",
    timeout: float = 120.0,
) -> Iterator[ServerProcess]:
    """Start `command`, wait until `ready_path` answers 200, stop it on exit.

    A gateway started here serves no gRPC unless `command` asks (``--grpc-port``): its default
    port would be shared by every gateway the tests start at once."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**os.environ, "GATEWAY_GRPC_PORT": "0", **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.log()}")
            try:
                if httpx.get(server.url + ready_path, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout} s:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def python_command(*args: str) -> list[str]:
    return [sys.executable, *args]


@contextmanager
def gateway_process(
    folder: Path,
    *files: Path,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    port: int | None = None,
    data_dir: Path | None = None,
    log_name: str = "gateway.log",
    ready_path: str = "/v2/health/ready",
) -> Iterator[ServerProcess]:
    """A real ``gateway serve -f FILE... --port PORT ARGS...`` on loopback (`server_process`):
    its data in `data_dir` (``GATEWAY_DATA_DIR``, default `folder`), its log in
    ``folder/log_name``, `env` on top; on a free port unless `port` is given."""
    port = port or free_port()
    command = python_command("-m", "gateway", "serve", "--port", str(port), *args)
    for path in files:
        command += ["-f", str(path)]
    env = {"GATEWAY_DATA_DIR": str(data_dir or folder), **(env or {})}
    log_path = folder / log_name
    with server_process(
        command, port=port, log_path=log_path, env=env, ready_path=ready_path
    ) as server:
        yield server
