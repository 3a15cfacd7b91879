"""Resident memory of the processes under test (psutil), named the way the report shows them.

A gateway's runtimes are its children; each is named after its ``RUNTIME_NAME``.
"""

from __future__ import annotations

import importlib
from typing import Any

psutil: Any = importlib.import_module("psutil")  # untyped (no stubs in the dev extra)

MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    """The resident set size of one process in MiB (NaN when it is gone)."""
    try:
        return float(psutil.Process(pid).memory_info().rss) / MB
    except psutil.Error:
        return float("nan")


def children_rss_mb(pid: int) -> dict[str, float]:
    """RSS of every descendant of ``pid``: ``{"runtime <RUNTIME_NAME>": MiB}``."""
    out: dict[str, float] = {}
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return out
    for child in children:
        try:
            name = child.environ().get("RUNTIME_NAME") or child.name()
            out[f"runtime {name}"] = float(child.memory_info().rss) / MB
        except psutil.Error:
            continue
    return out
