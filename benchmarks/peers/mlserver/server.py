"""MLServer 1.7.1 serving EfficientNet-Lite0 through a custom runtime (``runtime.py``).

Writes the ``settings.json`` and ``<model>/model-settings.json`` that ``mlserver start FOLDER``
reads into a temporary folder and runs ``mlserver start`` on it, as a user would; SIGTERM is
passed on to it, and the folder is removed once it has stopped (MLServer itself ends by its own
SIGTERM, re-raised by uvicorn, so it cannot clean up after itself). REST on
127.0.0.1:``--port``; the gRPC and metrics servers MLServer always opens get free loopback ports.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

from benchmarks.peers.launch import launch_parser

MODEL_NAME = "efficientnet"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_settings(folder: Path, args: argparse.Namespace) -> None:
    server = {
        "host": "127.0.0.1",
        "http_port": args.port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "metrics_dir": str(folder / ".metrics"),
        "environments_dir": str(folder / ".envs"),
    }
    if args.parallel_workers is not None:
        server["parallel_workers"] = args.parallel_workers
    model = {
        "name": MODEL_NAME,
        "implementation": "benchmarks.peers.mlserver.runtime.ImageClassifier",
        "parameters": {
            "uri": str(Path(args.model).resolve()),
            "extra": {"labels": str(Path(args.labels).resolve()), "threads": args.threads},
        },
    }
    (folder / "settings.json").write_text(json.dumps(server), encoding="utf-8")
    (folder / MODEL_NAME).mkdir()  # the model's own folder, named after it
    (folder / MODEL_NAME / "model-settings.json").write_text(json.dumps(model), encoding="utf-8")


def main() -> None:
    parser = launch_parser(__doc__)
    parser.add_argument("--parallel-workers", type=int, default=None, help="default: MLServer's")
    args = parser.parse_args()
    children: list[subprocess.Popen[bytes]] = []

    def pass_on(signum: int, frame: FrameType | None) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, pass_on)
    signal.signal(signal.SIGINT, pass_on)
    with tempfile.TemporaryDirectory(prefix="peer-mlserver-") as tmp:
        folder = Path(tmp)
        write_settings(folder, args)
        mlserver = Path(sys.executable).with_name("mlserver")
        children.append(subprocess.Popen([str(mlserver), "start", str(folder)]))
        children[0].wait()


if __name__ == "__main__":
    main()
