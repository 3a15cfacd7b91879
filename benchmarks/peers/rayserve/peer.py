"""Ray Serve 2.60: a deployment that takes the raw JPEG body; HAProxy in front when tuned."""

from __future__ import annotations

from benchmarks.peers.catalog import Peer, Request, Setting

HAPROXY = {"RAY_SERVE_ENABLE_HA_PROXY": "1"}  # Ray Serve's HAProxy front (2.55+, built in)
# 2 replicas of 1 ORT thread each (2 threads each: 0.6x the images/s at 16 clients here)
TUNED = ("--replicas", "2", "--max-ongoing-requests", "32", "--threads", "1")


def build_request(jpeg: bytes) -> Request:
    return Request("/", "image/jpeg", jpeg)


PEER = Peer(
    key="rayserve",
    title="Ray Serve 2.60",
    # GET on the application itself: answered by a replica, so only once one runs (the proxy's
    # own /-/routes and /-/healthz answer 200 before that under HAProxy).
    ready_path="/",
    settings=(
        Setting("defaults"),  # 1 replica, max_ongoing_requests 5, Python proxy
        Setting(
            "2 replicas of 1 ORT thread, max_ongoing_requests 32, HAProxy", args=TUNED, env=HAPROXY
        ),
        Setting(
            "same + @serve.batch(16, 5 ms)",
            args=(*TUNED, "--batch", "--max-batch-size", "16", "--batch-wait-s", "0.005"),
            env=HAPROXY,
        ),
    ),
    build_request=build_request,
)
