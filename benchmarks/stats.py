"""Stats: what one locust run measured, read from the final JSON locust writes at exit.

Not from ``*_stats.csv``: locust rewrites that file once a second while it runs and not again at
exit, so it misses up to the last second of the run. ``--json-file`` is written at shutdown from
the final counters; percentiles are computed from its response-time histogram exactly as locust
computes them (so they are locust's rounded values: whole ms, 2 significant digits above 100 ms).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Stats:
    """The aggregate of all request names in one run (times in milliseconds)."""

    requests: int
    failures: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float


def read_stats(path: Path) -> Stats:
    """Aggregate the entries of a locust ``--json-file`` document."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of locust stats entries")
    return aggregate(entries)


def aggregate(entries: Sequence[Mapping[str, Any]]) -> Stats:
    """What locust's "Aggregated" row shows, from its serialized stats entries."""
    requests = sum(int(e["num_requests"]) for e in entries)
    timed = requests - sum(int(e.get("num_none_requests") or 0) for e in entries)
    histogram: Counter[int] = Counter()
    for e in entries:
        histogram.update({int(k): int(v) for k, v in e["response_times"].items()})
    starts = [float(e["start_time"]) for e in entries if e.get("start_time")]
    ends = [float(e["last_request_timestamp"]) for e in entries if e.get("last_request_timestamp")]
    elapsed = max(ends) - min(starts) if starts and ends else 0.0
    return Stats(
        requests=requests,
        failures=sum(int(e["num_failures"]) for e in entries),
        rps=requests / elapsed if elapsed > 0 else math.nan,
        p50_ms=percentile(histogram, 0.50),
        p99_ms=percentile(histogram, 0.99),
        mean_ms=sum(int(e["total_response_time"]) for e in entries) / timed if timed else math.nan,
    )


def percentile(histogram: Mapping[int, int], fraction: float) -> float:
    """locust's ``calculate_response_time_percentile`` over a {rounded ms: count} histogram."""
    total = sum(histogram.values())
    if total == 0:
        return math.nan
    wanted = int(total * fraction)
    seen = 0
    for value in sorted(histogram, reverse=True):
        seen += histogram[value]
        if total - seen <= wanted:
            return float(value)
    return 0.0
