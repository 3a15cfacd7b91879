"""The run as one PNG: throughput against clients for each comparison (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.results import (
    BATCHING_OFF,
    DIRECT,
    ECHO_DIRECT,
    ECHO_GATEWAY,
    GATEWAY,
    RunResults,
)


def plot(results: RunResults, path: Path) -> Path:
    """Four panels: (a) digits, (a) imagenet with ORT alone, (b) forwarding, (c) batching."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    _lines(axes[0][0], results, "digits", [DIRECT, GATEWAY], "(a) digits: req/s")
    ort = {f"ORT alone, {setup}": rate for setup, rate in results.ort_alone.items()}
    _lines(axes[0][1], results, "imagenet", [DIRECT, GATEWAY], "(a) imagenet: images/s", ort)
    _bars(axes[1][0], results)
    _lines(axes[1][1], results, "imagenet", [DIRECT, BATCHING_OFF], "(c) imagenet direct: images/s")
    axes[1][1].legend(["batching on", "batching off"], fontsize=8)
    fig.suptitle(f"inference-gateway benchmarks, {results.meta.get('finished', '')}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _lines(
    ax: Any,
    results: RunResults,
    model: str,
    targets: list[str],
    title: str,
    levels: dict[str, float] | None = None,
) -> None:
    """Throughput against clients for each target, plus horizontal ``levels`` (dotted)."""
    for label, rate in (levels or {}).items():
        ax.axhline(rate, linestyle=":", linewidth=1.2, color=f"C{2 + len(ax.lines)}", label=label)
    for target in targets:
        users = results.users(model, target)
        rates = [s.rps for u in users if (s := results.stats(model, target, u)) is not None]
        ax.plot(users, rates, marker="o", label=target)
    ax.set_title(title)
    ax.set_xlabel("concurrent clients")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)


def _bars(ax: Any, results: RunResults) -> None:
    labels, rates = [], []
    for users in results.users("echo", ECHO_GATEWAY):
        for target in (ECHO_DIRECT, ECHO_GATEWAY):
            stats = results.stats("echo", target, users)
            if stats is not None:
                labels.append(f"{target}\n{users} clients")
                rates.append(stats.rps)
    ax.bar(labels, rates, color=(["tab:blue", "tab:orange"] * len(rates))[: len(rates)])
    ax.set_title("(b) forwarding: req/s (wrk)")
    ax.grid(alpha=0.3, axis="y")
