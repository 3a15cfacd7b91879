"""MLServer 1.7.1: a custom ``MLModel`` runtime; Open Inference Protocol v2, base64 BYTES input."""

from __future__ import annotations

import base64
import json

from benchmarks.peers.catalog import Peer, Request, Setting

MODEL_NAME = "efficientnet"  # as server.py names it in model-settings.json


def build_request(jpeg: bytes) -> Request:
    """The v2 inference request MLServer's docs show for binary data: BYTES, ``base64`` codec."""
    tensor = {
        "name": "image",
        "shape": [1],
        "datatype": "BYTES",
        "parameters": {"content_type": "base64"},
        "data": [base64.b64encode(jpeg).decode("ascii")],
    }
    body = json.dumps({"inputs": [tensor]}).encode()
    return Request(f"/v2/models/{MODEL_NAME}/infer", "application/json", body)


PEER = Peer(
    key="mlserver",
    title="MLServer 1.7.1",
    ready_path=f"/v2/models/{MODEL_NAME}/ready",
    settings=(
        Setting("defaults"),  # one inference worker process, ORT's default threads
        # One request per core: 2 worker processes of 1 ORT thread each (2 threads each: 0.6x
        # the images/s at 16 clients, measured side by side here).
        Setting(
            "2 parallel workers, ORT 1 thread each",
            args=("--parallel-workers", "2", "--threads", "1"),
        ),
    ),
    build_request=build_request,
)
