"""KServe 0.21: a custom ``kserve.Model`` served by ``kserve.ModelServer``, as KServe's docs show.

The v1 protocol, a KServe user's usual way to send an image: ``POST /v1/models/flowers:predict``
with ``{"instances": [{"image": {"b64": ...}}]}``. ``--threads N`` gives ONNX Runtime N intra-op
threads (0: its default); ``--thread-pool`` makes ``predict`` a coroutine that runs the model in
the event loop's thread pool (KServe runs a plain ``predict`` on the event loop itself). KServe
listens on 0.0.0.0 (hard-coded); its gRPC server gets a free port rather than its fixed 8081.
"""

from __future__ import annotations

import asyncio
import base64
import socket
from typing import Any

from kserve import Model, ModelServer, model_server

from benchmarks.peers.launch import launch_parser
from benchmarks.peers.serving import Classifier

NAME = "flowers"


class Flowers(Model):
    """The classifier as a KServe model: v1 instances in, v1 predictions out."""

    def __init__(self, name: str, model: str, labels: str, threads: int) -> None:
        super().__init__(name)
        self.paths = (model, labels, threads)
        self.load()

    def load(self) -> bool:
        model, labels, threads = self.paths
        self.classifier = Classifier(model, labels, threads)
        self.ready = True
        return self.ready

    def predict(self, payload: Any, headers: Any = None) -> Any:
        return {"predictions": self.classify(payload)}

    def classify(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        images = [base64.b64decode(i["image"]["b64"]) for i in payload["instances"]]
        return [self.classifier.predict(image) for image in images]


class ThreadPoolFlowers(Flowers):
    """The same model; ``predict`` leaves the event loop while the model runs."""

    async def predict(self, payload: Any, headers: Any = None) -> Any:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        return {"predictions": await loop.run_in_executor(None, self.classify, payload)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> None:
    parser = launch_parser(parents=[model_server.parser])
    parser.add_argument("--thread-pool", action="store_true")
    args = parser.parse_args()
    kind = ThreadPoolFlowers if args.thread_pool else Flowers
    flowers = kind(NAME, args.model, args.labels, args.threads)
    ModelServer(http_port=args.port, grpc_port=free_port()).start([flowers])


if __name__ == "__main__":
    main()
