"""Check peers by hand: ``python -m benchmarks.peers.check KEY [KEY...] [--load 1,16]``.

For each peer: build its virtualenv when it is missing or older than its requirements (timed,
with its size), then for each setting start ``server.py`` as the runner does, wait for the ready
path, send one request and check that the answer is 200 and names the expected label, optionally
run wrk for a rough figure (images/s, noisy) and ask once more, then stop the server as the runner
does (SIGTERM; after 10 s, SIGKILL to its process group) and check that every process it started
is gone: Ray's and BentoML's workers run in process groups of their own, so only their own
shutdown stops them. One line per setting; exit status 1 when any check failed. The starting,
asking, stopping and building are the runner's own (``benchmarks.peers.run``, ``.stop``,
``.venvs``).

MLServer 1.7 may not stop on SIGTERM while requests are still in flight (wrk leaves some when it
stops): it closes its worker pool first, and its REST server then waits for those requests for
ever. The request after the load makes that less likely; the SIGKILL to the group ends it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.payloads import Payload, imagenet_payload
from benchmarks.peers.catalog import PEER_KEYS, PEERS_DIR, Peer, Setting, load_peer
from benchmarks.peers.run import READY_TIMEOUT_S, check, start_peer
from benchmarks.peers.stop import stop_tree
from benchmarks.peers.venvs import build_missing, size_mib
from benchmarks.processes import BenchmarkError, ProcessGroup, run_main, wait_ready
from benchmarks.wrk import run_wrk

WARMUP_S = 3.0


def check_setting(
    peer: Peer, setting: Setting, loads: Sequence[int], seconds: float, work: Path
) -> tuple[bool, str]:
    """Start, ready, one checked request, rough load, stop; (passed, one line)."""
    request = peer.build_request(imagenet_payload().body)
    parts = [f"{peer.title} | {setting.name}"]
    passed = True
    with ProcessGroup() as group:
        launch = start_peer(peer, setting, group, work)
        url = launch.base_url + request.path
        start = time.monotonic()
        try:
            wait_ready({launch.ready_url: launch.child}, READY_TIMEOUT_S)
            parts.append(f"ready in {time.monotonic() - start:.1f} s")
            parts.append(f"answer {check(url, request, peer.expect)!r}")
            if loads:
                payload = Payload(request.body, request.content_type)
                prefix = launch.child.log_path.with_suffix("")
                run_wrk(group, url, payload, max(loads), WARMUP_S, Path(f"{prefix}-warmup"))
                for clients in loads:
                    out = Path(f"{prefix}-c{clients}")
                    stats = run_wrk(group, url, payload, clients, seconds, out)
                    passed &= stats.failures == 0
                    parts.append(
                        f"c{clients}: {stats.rps:.1f} img/s p50 {stats.p50_ms:.1f} ms"
                        + (f" ({stats.failures} failed)" if stats.failures else "")
                    )
                check(url, request, peer.expect)  # also: nothing left in flight
                parts.append("answer after the load ok")
        except BenchmarkError as exc:
            passed = False
            parts.append(f"error: {exc}")
        finally:
            stopped = stop_tree(group, launch.child)
        passed &= stopped.clean
        parts.append(stopped.summary())
        if not passed:
            parts.append("log tail:\n" + launch.child.log_tail(15))
    return passed, " | ".join(parts)


def check_peers(
    keys: Sequence[str], only: str | None, loads: Sequence[int], seconds: float
) -> bool:
    passed = True
    with tempfile.TemporaryDirectory(prefix="peer-check-") as tmp:
        for key in keys:
            peer = load_peer(key)
            build_missing([peer], log)
            print(f"{peer.title}: {peer.venv}, {size_mib(peer):.0f} MiB", flush=True)
            for setting in peer.settings:
                if only and only not in setting.name:
                    continue
                ok, line = check_setting(peer, setting, loads, seconds, Path(tmp))
                passed &= ok
                print(("ok   " if ok else "FAIL ") + line, flush=True)
    return passed


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers.check", description=__doc__)
    parser.add_argument("keys", nargs="*", default=None, help=f"default: {' '.join(PEER_KEYS)}")
    parser.add_argument("--setting", default=None, help="only settings whose name contains this")
    parser.add_argument("--load", default="", help="wrk client counts, e.g. 1,16 (default: none)")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk seconds per load")
    args = parser.parse_args(argv)
    keys = args.keys or [k for k in PEER_KEYS if (PEERS_DIR / k).is_dir()]
    loads = [int(n) for n in args.load.split(",") if n]
    results: list[bool] = []

    def work() -> None:
        results.append(check_peers(keys, args.setting, loads, args.seconds))

    status = run_main(work)
    return status or (0 if all(results) else 1)


if __name__ == "__main__":
    sys.exit(main())
