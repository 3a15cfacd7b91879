"""Locust as a load generator: a headless run as a child process, read back as ``Stats``.

Used where a rate, not a ceiling, is wanted (the soak: ``rate_per_user`` sets locust's
``constant_throughput``) and for by-hand runs of ``locustfile.py``. Locust's final
``--json-file`` becomes a ``Stats``; its CSVs (failures by message included) stay next to it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.payloads import REPO_ROOT
from benchmarks.processes import BenchmarkError, Child, ProcessGroup
from benchmarks.stats import Stats, read_stats
from benchmarks.targets import Target

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def start_locust(
    group: ProcessGroup,
    target: Target,
    model: str,
    users: int,
    seconds: int,
    prefix: Path,
    rate_per_user: float = 0.0,
) -> Child:
    """Start locust headless against ``target`` (``rate_per_user`` 0: back to back)."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "-u", str(users),
        "-r", str(users),
        "-t", f"{seconds}s",
        "--host", target.base_url,
        "--csv", str(prefix),
        "--json-file", str(prefix),  # locust adds ".json"
        "--only-summary",
        "--loglevel", "WARNING",
    ]  # fmt: skip
    env = {
        "BENCH_MODEL": model,
        "BENCH_PATH": target.path,
        "BENCH_RATE": str(rate_per_user),
        "PYTHONPATH": str(REPO_ROOT),
    }
    return group.start(f"locust {target.name}", argv, env, prefix.with_suffix(".log"))


def finish_locust(group: ProcessGroup, child: Child, prefix: Path, timeout: float) -> Stats:
    """Wait for a started locust, then read its stats."""
    try:
        child.popen.wait(timeout)
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"locust did not finish:\n{child.log_tail()}") from None
    finally:
        group.stop(child)
    stats_json = prefix.with_name(prefix.name + ".json")
    if not stats_json.is_file():
        raise BenchmarkError(f"locust wrote no {stats_json.name}:\n{child.log_tail()}")
    return read_stats(stats_json)


def run_locust(
    group: ProcessGroup, target: Target, model: str, users: int, seconds: int, prefix: Path
) -> Stats:
    """Run locust headless, back to back, against ``target`` and return its aggregated stats."""
    child = start_locust(group, target, model, users, seconds, prefix)
    return finish_locust(group, child, prefix, seconds + 60)
