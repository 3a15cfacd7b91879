"""Cold start: from starting a process to its first 200 on a predict URL, a few times over.

The clock starts just before the process is spawned and stops at the first successful answer
(polled every 10 ms, a refused connection or a 503 just means "not yet"). Each run starts from
nothing: a fresh process, and for the gateway a fresh data folder.

``python -m benchmarks.coldstart [--runs 5] [--against DIR]`` measures the runtime alone
(imagenet, with its optimised-model cache built, and on a first start without it) and
``gateway serve`` with imagenet, interleaved, and prints each median against issue 15's targets
(a runtime ≤ 0.5 s, gateway + runtime ≤ 1 s). ``--against DIR`` adds the same starts from
another checkout of this project (e.g. ``git worktree add /tmp/before main`` with its models),
interleaved with these, so a before/after comparison comes from one run. Both checkouts are
byte-compiled first, as an installed package is (pip compiles at install time; an editable
checkout under ``PYTHONDONTWRITEBYTECODE=1`` would compile every module on every start).
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.payloads import PAYLOADS, REPO_ROOT, Payload
from benchmarks.processes import BenchmarkError, Child, ProcessGroup, run_main
from benchmarks.targets import service_file, start_gateway, start_runtime

POLL_S = 0.01
RUNTIME_TARGET_S = 0.5
GATEWAY_TARGET_S = 1.0
CACHE_ENV = "RUNTIME_CACHE_DIR"  # where a runtime keeps its optimised model (see the runtime)

Starter = Callable[[int], tuple[str, Child]]  # run index -> (predict URL, started child)


@dataclass(frozen=True)
class ColdStart:
    """Seconds to the first answer, per run."""

    what: str
    runs_s: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.runs_s) if self.runs_s else float("nan")

    @property
    def target_s(self) -> float:
        """Issue 15: a gateway with its runtime answers within 1 s, a runtime alone in 0.5 s."""
        return GATEWAY_TARGET_S if "gateway" in self.what else RUNTIME_TARGET_S


def measure_cold_start(
    group: ProcessGroup, what: str, start: Starter, payload: Payload, runs: int, timeout: float
) -> ColdStart:
    """``runs`` times: start a process with ``start``, time its first 200, stop it."""
    with httpx.Client(timeout=timeout) as client:
        times = [time_cold_start(group, client, start, i, payload, timeout) for i in range(runs)]
    return ColdStart(what, tuple(times))


def time_cold_start(
    group: ProcessGroup,
    client: httpx.Client,
    start: Starter,
    index: int,
    payload: Payload,
    timeout: float,
) -> float:
    """One run: seconds from calling ``start`` to the first 200; the child is stopped after."""
    began = time.perf_counter()
    url, child = start(index)
    try:
        return _first_answer(client, url, payload, child, began + timeout) - began
    finally:
        group.stop(child)


def _first_answer(
    client: httpx.Client, url: str, payload: Payload, child: Child, deadline: float
) -> float:
    headers = {"Content-Type": payload.content_type}
    while True:
        try:
            if client.post(url, content=payload.body, headers=headers).status_code == 200:
                return time.perf_counter()
        except httpx.HTTPError:
            pass
        if child.popen.poll() is not None:
            raise BenchmarkError(f"{child.name} exited during a cold start:\n{child.log_tail()}")
        if time.perf_counter() > deadline:
            raise BenchmarkError(f"{child.name}: no answer from {url} in time")
        time.sleep(POLL_S)


def cases(group: ProcessGroup, root: Path, work: Path, label: str) -> dict[str, Starter]:
    """The starts measured for the checkout at ``root``: the runtime with its optimised-model
    cache built, the runtime on a first start (an empty cache), the gateway with imagenet."""
    cache = work / f"{label}-cache"  # shared by the runs that find the cache built

    def runtime(index: int) -> tuple[str, Child]:
        env = {CACHE_ENV: str(cache)}
        name = f"{label}-cold{index}"
        target, child = start_runtime(group, "imagenet", work, name, env, cwd=root)
        return target.predict_url, child

    def first(index: int) -> tuple[str, Child]:
        env = {CACHE_ENV: str(work / f"{label}-empty{index}")}
        name = f"{label}-first{index}"
        target, child = start_runtime(group, "imagenet", work, name, env, cwd=root)
        return target.predict_url, child

    def gateway(index: int) -> tuple[str, Child]:
        files = [service_file("imagenet", root)]
        env = {"GATEWAY_CACHE_DIR": str(cache)}
        url, child = start_gateway(group, files, work, f"{label}-gateway{index}", env=env, cwd=root)
        return f"{url}/predict/imagenet", child

    prefix = "" if label == "this" else f"{label}: "
    return {
        f"{prefix}runtime imagenet": runtime,
        f"{prefix}runtime imagenet, first start (no cache)": first,
        f"{prefix}gateway serve + imagenet": gateway,
    }


def run(args: argparse.Namespace) -> str:
    """Every case of every checkout, ``args.runs`` rounds, interleaved; the report as text."""
    roots = {"this": REPO_ROOT}
    if args.against is not None:
        roots["before"] = args.against.resolve()
    for root in roots.values():
        compileall.compile_dir(root / "gateway", quiet=1)
        compileall.compile_dir(root / "runtimes", quiet=1)
    payload = PAYLOADS["imagenet"]()
    runs: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="coldstart-") as tmp,
        ProcessGroup() as group,
        httpx.Client(timeout=args.timeout) as client,
    ):
        work = Path(tmp)
        starters: dict[str, Starter] = {}
        for label, root in roots.items():
            starters.update(cases(group, root, work, label))
        for what, start in starters.items():  # unmeasured: builds the caches, warms the disk
            time_cold_start(group, client, start, -1, payload, args.timeout)
            runs[what] = []
        for index in range(args.runs):
            for what, start in starters.items():
                seconds = time_cold_start(group, client, start, index, payload, args.timeout)
                runs[what].append(seconds)
                print(f"[coldstart] {what}: {seconds:.3f} s", file=sys.stderr, flush=True)
    return report([ColdStart(what, tuple(times)) for what, times in runs.items()])


def report(results: Sequence[ColdStart]) -> str:
    """A markdown table: each case's runs, the best (what a quiet machine approaches), the
    median, its target and PASS/MISS (on the median)."""
    lines = [
        "| from zero to the first 200 on /predict | runs (s) | best | median | target | verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for c in results:
        verdict = "PASS" if c.median_s <= c.target_s else "MISS"
        runs = " ".join(f"{t:.2f}" for t in c.runs_s)
        best = min(c.runs_s, default=float("nan"))
        lines.append(
            f"| {c.what} | {runs} | {best:.2f} s | {c.median_s:.2f} s | ≤ {c.target_s:g} s "
            f"| {verdict} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.coldstart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=5, help="measured starts per case (5)")
    parser.add_argument("--against", type=Path, help="another checkout, measured alongside")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per start")
    args = parser.parse_args(argv)
    return run_main(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
