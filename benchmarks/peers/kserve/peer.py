"""KServe 0.21's Python ModelServer: defaults, then the settings that won here (ENVIRONMENT.md)."""

from __future__ import annotations

import base64
import json

from benchmarks.peers.catalog import Peer, Request, Setting


def v1_request(jpeg: bytes) -> Request:
    """KServe's v1 protocol, the image base64-encoded in one instance."""
    body = {"instances": [{"image": {"b64": base64.b64encode(jpeg).decode("ascii")}}]}
    return Request("/v1/models/flowers:predict", "application/json", json.dumps(body).encode())


PEER = Peer(
    key="kserve",
    title="KServe 0.21",
    ready_path="/v2/models/flowers/ready",
    settings=(
        Setting("defaults"),
        Setting("ORT 2 intra-op threads", ("--threads", "2")),  # best at 1 client here
        Setting(  # best at 4-64 clients here
            "async predict + inference in a thread pool, ORT 1 thread",
            ("--thread-pool", "--threads", "1"),
        ),
    ),
    build_request=v1_request,
)
