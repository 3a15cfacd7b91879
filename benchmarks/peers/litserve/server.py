"""LitServe 0.2.19: a ``LitAPI`` served by ``LitServer``, as LitServe's docs show.

``POST /predict`` with ``{"image": "<base64 JPEG>"}``; ``GET /health`` answers 200 once the
inference workers are up. ``--workers N`` is ``workers_per_device`` (LitServe's default: 1), each
worker a process of its own; ``--threads N`` gives ONNX Runtime N intra-op threads per worker (0:
its default).
"""

from __future__ import annotations

import base64
from typing import Any

import litserve as ls

from benchmarks.peers.launch import launch_parser
from benchmarks.peers.serving import Classifier


class FlowersAPI(ls.LitAPI):
    """Decode the base64 image, classify it, answer the top-1 class."""

    def __init__(self, model: str, labels: str, threads: int) -> None:
        super().__init__()
        self.paths = (model, labels, threads)

    def setup(self, device: Any) -> None:
        model, labels, threads = self.paths
        self.classifier = Classifier(model, labels, threads)

    # No annotation on ``request`` nor on encode_response's result: LitServe reads them to type
    # its endpoint, and without them it takes and answers plain JSON, as its examples do.
    def decode_request(self, request, **kwargs: Any) -> bytes:  # type: ignore[no-untyped-def]
        return base64.b64decode(request["image"])

    def predict(self, x: bytes, **kwargs: Any) -> Any:
        return self.classifier.predict(x)

    def encode_response(self, output: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        return output


def main() -> None:
    parser = launch_parser()
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    api = FlowersAPI(args.model, args.labels, args.threads)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=args.workers)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False)


if __name__ == "__main__":
    main()
