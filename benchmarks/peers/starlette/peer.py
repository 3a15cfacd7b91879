"""A plain Starlette app with a thread pool: what the servers are measured against."""

from __future__ import annotations

from benchmarks.peers.catalog import Peer, Request, Setting


def raw_request(jpeg: bytes) -> Request:
    return Request("/predict", "image/jpeg", jpeg)


PEER = Peer(
    key="starlette",
    title="plain Starlette 1.10",
    ready_path="/health",
    settings=(
        Setting("thread pool, ORT 1 thread", ("--threads", "1")),  # best at 4 clients here
        Setting("thread pool, ORT 2 threads", ("--threads", "2")),
    ),
    build_request=raw_request,
    reference=True,
)
