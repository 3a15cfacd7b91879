"""Ray Serve 2.60 serving EfficientNet-Lite0: a deployment that takes the raw JPEG body.

What Ray Serve's docs have a user write: a ``@serve.deployment`` class whose ``__call__`` reads
the Starlette request, optionally an ``@serve.batch`` method, ``serve.run(App.bind(...))``. A
local Ray instance of its own on loopback (no dashboard, no usage stats); SIGTERM shuts Serve and
Ray down, so no raylet, GCS or HAProxy is left behind. With ``RAY_SERVE_ENABLE_HA_PROXY=1`` in
the environment (a setting's), HAProxy fronts the replicas; its config, socket and ports are made
private to this run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from benchmarks.peers.launch import launch_parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def private_environment(folder: Path) -> None:
    """Ray on loopback, quiet, and HAProxy's files and ports private to this run."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # node address: 127.0.0.1
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # HAProxy's admin socket path must stay under 97 bytes: Ray adds a 56-character node id.
    for name, path in (
        ("CONFIG_FILE_LOC", "haproxy.cfg"),
        ("SOCKET_PATH", "admin.sock"),
        ("METRICS_SOCKET_PATH", "metrics.sock"),
        ("SERVER_STATE_BASE", ""),
        ("SERVER_STATE_FILE", "server-state"),
    ):
        os.environ.setdefault(f"RAY_SERVE_HAPROXY_{name}", str(folder / path))
    os.environ.setdefault("RAY_SERVE_HAPROXY_METRICS_PORT", str(free_port()))
    os.environ.setdefault("RAY_SERVE_HAPROXY_STATS_PORT", str(free_port()))


def build_app(args: argparse.Namespace) -> Any:
    from ray import serve
    from starlette.requests import Request

    from benchmarks.peers.serving import Classifier

    options: dict[str, Any] = {}
    if args.replicas is not None:
        options["num_replicas"] = args.replicas
    if args.max_ongoing_requests is not None:
        options["max_ongoing_requests"] = args.max_ongoing_requests

    class ImageClassifier:
        """EfficientNet-Lite0: a JPEG body in, its top-1 ImageNet label out."""

        def __init__(self, model: str, labels: str, threads: int) -> None:
            self.classifier = Classifier(model, labels, threads)

        async def __call__(self, request: Request) -> dict[str, Any]:
            if request.method == "GET":  # the readiness probe: only a running replica answers
                return {"ready": True}
            return self.classifier.predict(await request.body())

    class BatchedImageClassifier(ImageClassifier):
        """The same, with concurrent requests gathered into one ONNX Runtime call."""

        @serve.batch(max_batch_size=args.max_batch_size, batch_wait_timeout_s=args.batch_wait_s)
        async def classify(self, images: list[bytes]) -> list[dict[str, Any]]:
            return self.classifier.predict_batch(images)

        async def __call__(self, request: Request) -> dict[str, Any]:
            if request.method == "GET":
                return {"ready": True}
            result: dict[str, Any] = await self.classify(await request.body())
            return result

    user_class = BatchedImageClassifier if args.batch else ImageClassifier
    deployment = serve.deployment(**options)(user_class)
    model, labels = (str(Path(p).resolve()) for p in (args.model, args.labels))
    return deployment.bind(model, labels, args.threads)


def main() -> None:
    parser = launch_parser(__doc__)
    parser.add_argument("--replicas", type=int, default=None, help="default: Ray Serve's (1)")
    parser.add_argument("--max-ongoing-requests", type=int, default=None, help="default: 5")
    parser.add_argument("--batch", action="store_true", help="@serve.batch")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--batch-wait-s", type=float, default=0.005)
    args = parser.parse_args()

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    with tempfile.TemporaryDirectory(prefix="rs-", dir="/tmp") as tmp:
        private_environment(Path(tmp))
        import ray
        from ray import serve

        ray.init(include_dashboard=False, log_to_driver=False)
        # After ray.init, which installs a SIGTERM handler of its own that only logs and dies.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            serve.start(http_options={"host": "127.0.0.1", "port": args.port})
            serve.run(build_app(args), route_prefix="/", blocking=False)
            print(f"serving on http://127.0.0.1:{args.port}/", flush=True)
            stop.wait()
        finally:
            ray.shutdown()  # stops every Ray process this one started, Serve's actors included
    sys.exit(0)


if __name__ == "__main__":
    main()
