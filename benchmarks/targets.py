"""The two things a run compares: a model runtime alone, and the same runtime behind the gateway.

The direct runtime gets exactly the ``RUNTIME_*`` environment the gateway's local backend would
give it (threads, batching, pre/post-processing), so the only difference is the gateway hop.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.payloads import REPO_ROOT
from benchmarks.processes import Child, ProcessGroup, free_port

READY_PATH = "/v2/health/ready"
LOG_LEVEL = "warning"  # for both targets: request logging is not what is measured


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


def service_file(model: str) -> Path:
    """The FDL file that defines ``model`` in this repository."""
    return REPO_ROOT / "model_images" / model / "service.yaml"


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


def start_runtime(group: ProcessGroup, model: str, work_dir: Path) -> tuple[Target, Child]:
    """Start ``model``'s runtime on its own free port, the way the gateway would."""
    port = free_port()
    env = {
        **runtime_env(model, work_dir),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": str(port),
    }
    child = group.start(
        f"runtime {model}",
        [sys.executable, "-m", "runtimes.onnx"],
        env,
        work_dir / "direct-runtime.log",
    )
    return Target("direct", f"http://127.0.0.1:{port}", "/predict"), child


def start_gateway(
    group: ProcessGroup, model: str, files: Sequence[Path], work_dir: Path
) -> tuple[Target, Child]:
    """Start the gateway (and, through it, a runtime per service) on its own free port."""
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "serve", "--port", str(port)]
    for path in files:
        argv += ["-f", str(path)]
    env = {"GATEWAY_DATA_DIR": str(work_dir / "gateway-data"), "GATEWAY_LOG_LEVEL": LOG_LEVEL}
    child = group.start("gateway", argv, env, work_dir / "gateway.log")
    return Target("gateway", f"http://127.0.0.1:{port}", f"/predict/{model}"), child
