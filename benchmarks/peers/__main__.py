"""``python -m benchmarks.peers`` (``make bench-peers``): this gateway against the peers, one run.

Builds each peer's virtualenv when it is missing or older than its requirements file
(``.venv-peers/<key>``), then measures, in the same run and interleaved, this gateway (defaults,
and the service in process), its runtime alone, the single-request limit and every peer at every
setting, at 1, 4, 16 and 64 clients (wrk, closed loop, every answer checked). Prints the markdown
and writes it to ``benchmarks/results/peers.md``; the servers' logs and wrk's output go to
``benchmarks/results/raw/peers/``. About 20 minutes with every peer; ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.payloads import imagenet_payload
from benchmarks.peers.catalog import PEER_KEYS, PEERS_DIR, Peer, load_peer
from benchmarks.peers.report import markdown
from benchmarks.peers.run import READY_TIMEOUT_S, Options, ours, peer_contenders, run
from benchmarks.peers.venvs import build_missing
from benchmarks.processes import BenchmarkError, ProcessGroup, run_main

RESULTS = Path(__file__).resolve().parents[1] / "results"
CLIENTS = (1, 4, 16, 64)
STARTED = time.monotonic()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", nargs="+", metavar="KEY", help=f"peers: {' '.join(PEER_KEYS)}")
    parser.add_argument("--skip-build", action="store_true", help="use the virtualenvs as they are")
    parser.add_argument("--quick", action="store_true", help="1 round, 2 s per load (smoke run)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (2; quick: 1)")
    parser.add_argument("--seconds", type=float, help="seconds per load point (6; quick: 2)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per server (2; quick: 1)")
    parser.add_argument("--clients", type=int, nargs="+", default=list(CLIENTS))
    parser.add_argument("--output", type=Path, default=RESULTS / "peers.md")
    args = parser.parse_args(argv)
    return run_main(lambda: bench(args))


def bench(args: argparse.Namespace) -> str:
    peers = chosen_peers(args.only)
    if not args.skip_build:
        build_missing(peers, log)
    options = Options(
        clients=tuple(args.clients),
        rounds=args.rounds or (1 if args.quick else 2),
        seconds=args.seconds or (2.0 if args.quick else 6.0),
        warmup=args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0),
        ready_timeout=READY_TIMEOUT_S,
    )
    jpeg = imagenet_payload().body
    contenders = ours(jpeg) + [c for peer in peers for c in peer_contenders(peer, jpeg)]
    raw = RESULTS / "raw" / "peers"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True)
    with ProcessGroup() as group:
        limit = run(contenders, options, group, raw, log)
    load = os.getloadavg()
    command = "python -m benchmarks.peers " + " ".join(sys.argv[1:])
    notes = [
        f"Made by `{command.strip()}` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in "
        f"{time.monotonic() - STARTED:.0f} s: {options.rounds} interleaved round(s) (every other "
        f"one in reverse order), one server running at a time, {options.warmup:.0f} s of warm-up "
        f"then wrk (1 thread, closed loop, keep-alive) {options.seconds:.0f} s per load, every "
        "answer checked (status 200 and the label in the body; any other answer is an error); "
        f"medians of the rounds. Load average at the end {load[0]:.1f} / {load[1]:.1f} / "
        f"{load[2]:.1f} on {os.cpu_count()} core(s), shared by the servers and wrk.",
    ]
    text = markdown([c.row for c in contenders], options.clients, limit, notes)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    log(f"wrote {args.output}; logs in {raw}")
    return text


def chosen_peers(only: Sequence[str] | None) -> list[Peer]:
    """The peers named (all of them by default, less those this checkout does not have)."""
    for key in only or ():
        if key not in PEER_KEYS:
            raise BenchmarkError(f"unknown peer {key!r}: choose from {' '.join(PEER_KEYS)}")
        if not (PEERS_DIR / key / "peer.py").is_file():
            raise BenchmarkError(f"benchmarks/peers/{key}/peer.py is missing")
    keys = [k for k in PEER_KEYS if k in only] if only else list(PEER_KEYS)
    missing = [k for k in keys if not (PEERS_DIR / k / "peer.py").is_file()]
    if missing:
        log(f"not in this checkout, left out: {' '.join(missing)}")
    return [load_peer(k) for k in keys if k not in missing]


def log(message: str) -> None:
    print(f"[peers {time.monotonic() - STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
