"""What a run starts and loads: model runtimes alone, the gateway, the echo upstream.

A direct runtime gets exactly the ``RUNTIME_*`` environment the gateway's local backend would
give it (threads, batching, pre/post-processing), so the only difference is the gateway hop;
``overrides`` change one setting on purpose (batching off). The echo upstream and the gateway in
front of it (``echo_gateway.py``) measure forwarding alone.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.payloads import REPO_ROOT
from benchmarks.processes import Child, ProcessGroup, free_port

READY_PATH = "/v2/health/ready"
LOG_LEVEL = "warning"  # for both targets: request logging is not what is measured
#: the one override the suite and `benchmarks.batching` make: the same runtime, batching off
BATCHING_OFF_ENV = {"RUNTIME_BATCHING": '{"enabled": false}'}


@dataclass(frozen=True)
class Target:
    """An HTTP endpoint under test: ``base_url + path`` takes one image per POST."""

    name: str
    base_url: str
    path: str

    @property
    def ready_url(self) -> str:
        return self.base_url + READY_PATH

    @property
    def predict_url(self) -> str:
        return self.base_url + self.path


def service_file(model: str, root: Path = REPO_ROOT) -> Path:
    """The FDL file that defines ``model`` in this repository (or the checkout at ``root``)."""
    return root / "model_images" / model / "service.yaml"


def runtime_env(model: str, data_dir: Path) -> dict[str, str]:
    """The environment the gateway's local backend gives ``model``'s runtime process."""
    from gateway.backends.local import LocalBackend
    from gateway.config import Settings
    from gateway.services import load_file

    specs = [s for s in load_file(service_file(model)).services if s.name == model]
    if not specs:
        raise ValueError(f"{service_file(model)} defines no service named {model!r}")
    backend = LocalBackend(Settings(data_dir=data_dir, log_level=LOG_LEVEL))
    try:
        return backend.runtime_env(specs[0])
    finally:
        asyncio.run(backend.aclose())


def start_runtime(
    group: ProcessGroup,
    model: str,
    work_dir: Path,
    name: str = "direct",
    overrides: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[Target, Child]:
    """Start ``model``'s runtime on its own free port, the way the gateway would (``cwd``:
    the code of the checkout there)."""
    port = free_port()
    env = {
        **runtime_env(model, work_dir),
        **(overrides or {}),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": str(port),
    }
    child = group.start(
        f"runtime {model} ({name})",
        [sys.executable, "-m", "runtimes.onnx"],
        env,
        work_dir / f"{name}-{model}-runtime.log",
        cwd=cwd,
    )
    return Target(name, f"http://127.0.0.1:{port}", "/predict"), child


def start_gateway(
    group: ProcessGroup,
    files: Sequence[Path],
    work_dir: Path,
    log_name: str = "gateway",
    grpc_port: int = 0,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[str, Child]:
    """Start ``gateway serve`` (and, through it, a runtime per service); returns its base URL.

    Its OIP gRPC server listens on ``grpc_port`` (0: none, so that gateways started one after
    the other never wait for the same port); ``env`` adds to its environment, ``cwd`` runs the
    code of the checkout there."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    argv += ["--grpc-port", str(grpc_port)]
    for path in files:
        argv += ["-f", str(path)]
    env = {
        "GATEWAY_DATA_DIR": str(work_dir / f"{log_name}-data"),
        "GATEWAY_LOG_LEVEL": LOG_LEVEL,
        **(env or {}),
    }
    child = group.start("gateway", argv, env, work_dir / f"{log_name}.log", cwd=cwd)
    return f"http://127.0.0.1:{port}", child


def start_echo(group: ProcessGroup, work_dir: Path) -> tuple[Target, Child]:
    """Start the trivial echo upstream (``benchmarks.echo_runtime``)."""
    port = free_port()
    env = {"RUNTIME_HOST": "127.0.0.1", "RUNTIME_PORT": str(port), "PYTHONPATH": str(REPO_ROOT)}
    argv = [sys.executable, "-m", "benchmarks.echo_runtime"]
    child = group.start("echo upstream", argv, env, work_dir / "echo.log")
    return Target("echo direct", f"http://127.0.0.1:{port}", "/predict"), child


def start_echo_gateway(
    group: ProcessGroup, upstream: Target, work_dir: Path
) -> tuple[Target, Child]:
    """Start the gateway with one public service, ``echo``, routed to ``upstream``."""
    port = free_port()
    argv = [
        sys.executable, "-m", "benchmarks.echo_gateway", "--port", str(port),
        "--upstream", upstream.base_url, "--data-dir", str(work_dir / "echo-gateway-data"),
    ]  # fmt: skip
    env = {"PYTHONPATH": str(REPO_ROOT)}
    child = group.start("echo gateway", argv, env, work_dir / "echo-gateway.log")
    return Target("echo via gateway", f"http://127.0.0.1:{port}", "/predict/echo"), child
