"""LitServe 0.2.19: defaults, then the setting that won here (ENVIRONMENT.md)."""

from __future__ import annotations

import base64
import json

from benchmarks.peers.catalog import Peer, Request, Setting


def b64_request(jpeg: bytes) -> Request:
    """The JPEG base64-encoded in a JSON object, the way LitServe's examples send images."""
    body = {"image": base64.b64encode(jpeg).decode("ascii")}
    return Request("/predict", "application/json", json.dumps(body).encode())


PEER = Peer(
    key="litserve",
    title="LitServe 0.2.19",
    ready_path="/health",
    settings=(
        Setting("defaults"),
        Setting("workers_per_device 2", ("--workers", "2")),  # its best here at 4-64 clients
        Setting("workers_per_device 2, ORT 1 thread each", ("--workers", "2", "--threads", "1")),
    ),
    build_request=b64_request,
)
