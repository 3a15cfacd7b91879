"""BentoML 1.4.40: a ``@bentoml.service`` with a file input, sent as multipart/form-data."""

from __future__ import annotations

from benchmarks.peers.catalog import Peer, Request, Setting

BOUNDARY = "peer-bench-5c0e9a1f"


def build_request(jpeg: bytes) -> Request:
    """One multipart part per file, named after the API's parameter (``images``)."""
    head = (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="images"; filename="flower.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = head + jpeg + f"\r\n--{BOUNDARY}--\r\n".encode()
    return Request("/classify", f"multipart/form-data; boundary={BOUNDARY}", body)


PEER = Peer(
    key="bentoml",
    title="BentoML 1.4.40",
    ready_path="/readyz",
    settings=(
        Setting("defaults"),  # 1 worker, no batching, ORT's default threads
        Setting(  # 2 processes of 1 ORT thread each (2 threads each: 0.75x at 16 clients here)
            "2 workers + adaptive batching, ORT 1 thread each",
            args=("--workers", "2", "--threads", "1", "--batchable", "--max-batch-size", "16"),
        ),
    ),
    build_request=build_request,
)
