"""CPU time of the processes under test (psutil): a process and everything it started.

CPU seconds per request, unlike wall time, stay close to the same on a shared machine, so they
tell the gateway's own cost even when other work moves the throughput figures.
"""

from __future__ import annotations

import importlib
from typing import Any

psutil: Any = importlib.import_module("psutil")  # untyped (no stubs in the dev extra)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants alive now (0 when it is gone)."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0.0
    for member in tree:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += float(times.user + times.system)
    return total
