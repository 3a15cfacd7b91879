"""``python -m benchmarks``: the gateway against the same runtime called directly, side by side.

One run starts the runtime alone and the gateway (with its own runtime) on free loopback ports,
warms both up, then for each user count runs locust first on the runtime, then on the gateway.
It prints a markdown table and writes ``benchmarks/results/latest.{md,json}`` (locust's CSVs and
the children's logs go to ``benchmarks/results/raw/``). Every process it starts is stopped on exit,
Ctrl-C and errors included.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from benchmarks.loadgen import run_locust, warm_up
from benchmarks.payloads import PAYLOADS
from benchmarks.processes import BenchmarkError, ProcessGroup, wait_ready
from benchmarks.report import Measurement, markdown, to_json, write
from benchmarks.targets import Target, service_file, start_gateway, start_runtime

RESULTS_DIR = Path(__file__).with_name("results")
GATEWAY_MODELS = ("imagenet", "digits")  # the services the gateway serves during the run


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # so `kill` cleans up like Ctrl-C
    try:
        run(args)
    except BenchmarkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; every started process was stopped", file=sys.stderr)
        return 130
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (well under 2 min)")
    parser.add_argument("--users", type=_int_list, help="comma-separated, e.g. 1,8 (default)")
    parser.add_argument("--duration", type=int, help="seconds per data point (default 15)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target (default 5)")
    parser.add_argument("--model", choices=sorted(PAYLOADS), default="imagenet")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="output folder")
    return parser


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("user counts must be positive integers")
    return values


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> list[Measurement]:
    """Start both targets, measure them, print and write the results."""
    users: list[int] = args.users or [1, 8]
    duration: int = args.duration or (5 if args.quick else 15)
    warmup: float = args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0)
    model: str = args.model
    raw_dir: Path = args.results / "raw"
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    started = time.monotonic()
    rows: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ProcessGroup() as group:
        work = Path(tmp)
        direct, direct_proc = start_runtime(group, model, work)
        gateway, gateway_proc = start_gateway(
            group, model, [service_file(m) for m in GATEWAY_MODELS], work
        )
        try:
            wait_ready({direct.ready_url: direct_proc, gateway.ready_url: gateway_proc}, 180)
            _log(f"both targets ready after {time.monotonic() - started:.1f} s")
            targets: list[Target] = [direct, gateway]
            for target in targets:
                count = warm_up(target, model, max(users), warmup)
                _log(f"warmed up {target.name} ({count} requests)")
            for n in users:
                for target in targets:
                    _log(f"{target.name}: {n} user(s) for {duration} s")
                    prefix = raw_dir / f"{target.name}-u{n}"
                    stats = run_locust(group, target, model, n, duration, prefix)
                    rows.append(Measurement(target.name, n, stats))
        finally:
            group.close()
            for path in [*work.glob("*.log"), *work.glob("gateway-data/logs/*.log")]:
                raw_dir.mkdir(parents=True, exist_ok=True)
                name = path.name if path.parent == work else f"gateway-runtime-{path.name}"
                shutil.copy(path, raw_dir / name)

    cpus = len(os.sched_getaffinity(0))
    notes = [
        f"Model `{model}`, {duration} s per row after {warmup:.0f} s of warm-up, "
        f"locust `FastHttpUser`, closed loop. p50/p99 are locust's (whole ms); "
        "the +ms columns are gateway minus direct at the same user count.",
        f"Caveat: the runtimes, the gateway and the load generator all share this machine's "
        f"{cpus} CPU core(s), so the numbers are relative (compare ratios from one run), "
        "not capacity figures.",
    ]
    table = markdown(rows, notes)
    meta = {
        "model": model,
        "users": users,
        "duration_s": duration,
        "warmup_s": warmup,
        "cpus": cpus,
        "python": platform.python_version(),
        "machine": platform.platform(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
    }
    md_path, json_path = write(args.results, table, to_json(rows, meta))
    print()
    print(table)
    _log(f"wrote {md_path} and {json_path} in {meta['wall_s']} s")
    return rows


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
