"""Results of a run: the side-by-side markdown table and the JSON document.

Rows are ``Measurement``s; for each user count the gateway row is compared with the direct row:
throughput ratio and the latency the gateway adds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.stats import Stats

BASELINE = "direct"


@dataclass(frozen=True)
class Measurement:
    """One target at one user count."""

    target: str
    users: int
    stats: Stats


@dataclass(frozen=True)
class Comparison:
    """A target against the baseline at the same user count."""

    target: str
    users: int
    rps_ratio: float
    added_p50_ms: float
    added_p99_ms: float
    added_mean_ms: float


def compare(rows: Sequence[Measurement]) -> list[Comparison]:
    """Each non-baseline row against the baseline row with the same user count."""
    baseline = {m.users: m.stats for m in rows if m.target == BASELINE}
    out = []
    for m in rows:
        base = baseline.get(m.users)
        if m.target == BASELINE or base is None:
            continue
        out.append(
            Comparison(
                target=m.target,
                users=m.users,
                rps_ratio=m.stats.rps / base.rps if base.rps else math.nan,
                added_p50_ms=m.stats.p50_ms - base.p50_ms,
                added_p99_ms=m.stats.p99_ms - base.p99_ms,
                added_mean_ms=m.stats.mean_ms - base.mean_ms,
            )
        )
    return out


def markdown(rows: Sequence[Measurement], notes: Sequence[str] = ()) -> str:
    """A table with one line per measurement; non-baseline lines carry the comparison."""
    by_key = {(c.target, c.users): c for c in compare(rows)}
    lines = [
        "| target | users | req/s | p50 ms | p99 ms | mean ms | failures "
        f"| req/s vs {BASELINE} | +p50 ms | +p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in sorted(rows, key=lambda r: (r.users, r.target != BASELINE, r.target)):
        s = m.stats
        c = by_key.get((m.target, m.users))
        extra = (
            f"{c.rps_ratio:.2f}x | {c.added_p50_ms:+.0f} | {c.added_p99_ms:+.0f}"
            if c
            else "- | - | -"
        )
        lines.append(
            f"| {m.target} | {m.users} | {s.rps:.1f} | {s.p50_ms:.0f} | {s.p99_ms:.0f} "
            f"| {s.mean_ms:.1f} | {s.failures}/{s.requests} | {extra} |"
        )
    return "\n".join([*lines, "", *notes]).rstrip() + "\n"


def to_json(rows: Sequence[Measurement], meta: Mapping[str, Any]) -> dict[str, Any]:
    """The run as a JSON-ready document: metadata, raw measurements, comparisons."""
    return {
        "meta": dict(meta),
        "results": [{"target": m.target, "users": m.users, **asdict(m.stats)} for m in rows],
        "comparison": [asdict(c) for c in compare(rows)],
    }


def write(directory: Path, table: str, document: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write ``latest.md`` and ``latest.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    md_path, json_path = directory / "latest.md", directory / "latest.json"
    md_path.write_text(table, encoding="utf-8")
    text = json.dumps(_finite(document), indent=2, allow_nan=False, default=str)
    json_path.write_text(text + "\n", encoding="utf-8")
    return md_path, json_path


def _finite(value: Any) -> Any:
    """NaN and infinities (an empty run's percentiles) become JSON null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
