"""``python -m benchmarks [--quick]``: the side-by-side suite of issue 5, in one run.

Measures (a) the gateway against the runtime called directly (digits, imagenet), (b) forwarding
to a trivial echo upstream against the echo alone, (c) batching on against off, (d) cold starts,
(e) RSS, (f) ONNX Runtime alone in-process; load comes from wrk, closed loop. Prints the markdown
report and writes ``benchmarks/results/latest.{md,json,png}`` (wrk output and the children's logs
go to ``benchmarks/results/raw/``). Every process it starts is stopped on exit, Ctrl-C and
errors included. ``--quick`` finishes in under 2 minutes; the full run in about 6.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.plot import plot
from benchmarks.processes import ProcessGroup, run_main
from benchmarks.report import markdown, to_json, write
from benchmarks.results import RunResults
from benchmarks.suite import make_plan, run_suite

RESULTS_DIR = Path(__file__).with_name("results")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_main(lambda: run(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (< 2 min)")
    parser.add_argument("--duration", type=float, help="seconds per load point (10; quick: 3)")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up per target (3; quick: 1)")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="output folder")
    return parser


def run(args: argparse.Namespace) -> RunResults:
    """Run the suite, then print and write the report."""
    plan = make_plan(args.quick, args.duration, args.warmup)
    raw: Path = args.results / "raw"
    if raw.exists():
        shutil.rmtree(raw)
    raw.mkdir(parents=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, ProcessGroup() as group:
        work = Path(tmp)
        try:
            results = run_suite(plan, group, work, raw, _log)
        finally:
            group.close()
            for path in [*work.glob("*.log"), *work.glob("*-data/logs/*.log")]:
                name = path.name if path.parent == work else f"{path.parts[-3]}-{path.name}"
                shutil.copy(path, raw / name)
    cpus = len(os.sched_getaffinity(0))
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    results.meta = {
        "command": command,
        "duration_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "cold_start_runs": plan.cold_runs,
        "cpus": cpus,
        "python": platform.python_version(),
        "machine": platform.platform(),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
    }
    notes = [
        f"Made by `{command}` on {results.meta['finished']} in {results.meta['wall_s']} s: "
        f"wrk (1 thread, closed loop, keep-alive), {plan.duration_s:.0f} s per point after "
        f"{plan.warmup_s:.0f} s of warm-up; latencies are wrk's, in ms; cold starts are the "
        f"median of {plan.cold_runs} runs.",
        f"Everything (runtimes, gateway, wrk) shares this machine's {cpus} CPU core(s), so only "
        "the ratios between rows of this one run mean something; a gateway row includes the "
        "CPU the gateway itself takes from its runtime.",
    ]
    table = markdown(results, notes)
    md_path, json_path = write(args.results, table, to_json(results))
    png_path = plot(results, args.results / "latest.png")
    print()
    print(table)
    _log(f"wrote {md_path}, {json_path} and {png_path} in {results.meta['wall_s']} s")
    return results


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
