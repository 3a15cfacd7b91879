"""``python -m benchmarks.soak [--minutes 10] [--rate-fraction 0.5]``: a bounded soak, reported.

Starts ``gateway serve`` with the digits service on loopback, measures its capacity with wrk for
a few seconds, then holds a steady load (locust, ``constant_throughput``) at ``--rate-fraction``
of it for ``--minutes``, sampling the RSS of the gateway and of its runtimes every
``--sample-every`` seconds. It stops by itself and prints a report: requests, achieved rate,
errors by HTTP status, and RSS at start, end and max with the drift (end vs start). A report,
not a test: nothing is asserted. Every process it starts is stopped, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from benchmarks import memory
from benchmarks.loadgen import finish_locust, start_locust
from benchmarks.payloads import PAYLOADS
from benchmarks.processes import BenchmarkError, Child, ProcessGroup, run_main, wait_ready
from benchmarks.stats import Stats
from benchmarks.targets import Target, service_file, start_gateway
from benchmarks.wrk import run_wrk

RAW_DIR = Path(__file__).with_name("results") / "raw" / "soak"
MODEL = "digits"
Samples = dict[str, list[float]]  # process -> RSS MiB per sample


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_main(lambda: soak(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate-fraction", type=float, default=0.5, help="of measured capacity")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS")
    parser.add_argument("--users", type=int, default=16, help="locust users sharing the rate")
    parser.add_argument("--capacity-seconds", type=float, default=5.0)
    parser.add_argument("--raw", type=Path, default=RAW_DIR, help="locust and process logs")
    return parser


def soak(args: argparse.Namespace) -> str:
    """Run the soak; return the printed report (also written as ``soak.json`` in ``--raw``)."""
    raw: Path = args.raw
    raw.mkdir(parents=True, exist_ok=True)
    seconds = max(1, round(args.minutes * 60))
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, ProcessGroup() as group:
        url, gateway = start_gateway(group, [service_file(MODEL)], Path(tmp), "soak-gateway")
        target = Target("gateway", url, f"/predict/{MODEL}")
        wait_ready({target.ready_url: gateway}, 120)
        payload = PAYLOADS[MODEL]()
        _log(f"measuring capacity for {args.capacity_seconds:.0f} s")
        capacity = run_wrk(
            group, target.predict_url, payload, 32, args.capacity_seconds, raw / "capacity"
        ).rps
        rate = capacity * args.rate_fraction
        _log(f"capacity {capacity:.0f} req/s; soaking at {rate:.0f} req/s for {seconds} s")
        prefix = raw / "soak"
        child = start_locust(group, target, MODEL, args.users, seconds, prefix, rate / args.users)
        samples = _sample_until_done(child, gateway, args.sample_every, seconds + 60)
        stats = finish_locust(group, child, prefix, 60)
    errors = errors_by_status(prefix.with_name(prefix.name + "_failures.csv"))
    report = render(capacity, rate, seconds, stats, errors, samples)
    document = {
        "capacity_rps": capacity,
        "target_rps": rate,
        "seconds": seconds,
        "stats": asdict(stats),
        "errors": errors,
        "rss_mb": samples,
    }
    (raw / "soak.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return report


def _sample_until_done(child: Child, gateway: Child, every: float, timeout: float) -> Samples:
    samples: Samples = {}
    deadline = time.monotonic() + timeout
    while True:
        rss = {"gateway": memory.rss_mb(gateway.popen.pid)}
        rss.update(memory.children_rss_mb(gateway.popen.pid))
        for name, mb in rss.items():
            samples.setdefault(name, []).append(mb)
        if gateway.popen.poll() is not None:
            raise BenchmarkError(f"the gateway exited during the soak:\n{gateway.log_tail()}")
        if child.popen.poll() is not None or time.monotonic() > deadline:
            return samples
        try:
            child.popen.wait(every)
        except subprocess.TimeoutExpired:  # time for the next sample
            pass


def errors_by_status(failures_csv: Path) -> dict[str, int]:
    """Locust's failures, counted by HTTP status (``"HTTP 503"``) or by error kind."""
    counts: Counter[str] = Counter()
    if not failures_csv.is_file():
        return {}
    with failures_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            match = re.search(r"HTTP (\d{3})", row.get("Error", ""))
            kind = f"HTTP {match.group(1)}" if match else row.get("Error", "?")[:60]
            counts[kind] += int(row.get("Occurrences") or 0)
    return dict(counts)


def render(
    capacity: float,
    rate: float,
    seconds: int,
    stats: Stats,
    errors: dict[str, int],
    samples: Samples,
) -> str:
    """The soak report as text (markdown tables)."""
    lines = [
        f"Soak: digits through the gateway for {seconds} s at {rate:.0f} req/s "
        f"({rate / capacity:.0%} of the {capacity:.0f} req/s measured just before).",
        f"Requests {stats.requests}, achieved {stats.rps:.0f} req/s, p50 {stats.p50_ms:.0f} ms, "
        f"p99 {stats.p99_ms:.0f} ms, failures {stats.failures}.",
        "",
        "| errors | count |",
        "|---|---:|",
        *([f"| {kind} | {n} |" for kind, n in sorted(errors.items())] or ["| none | 0 |"]),
        "",
        "| process | RSS start MiB | end | max | drift |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in samples.items():
        start, end = values[0], values[-1]
        drift = (end - start) / start if start else float("nan")
        lines.append(f"| {name} | {start:.0f} | {end:.0f} | {max(values):.0f} | {drift:+.1%} |")
    lines.append(f"\n{len(next(iter(samples.values()), []))} RSS samples.")
    return "\n".join(lines)


def _log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
