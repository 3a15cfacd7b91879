"""``python -m benchmarks.limit`` on the real digits model: the limit's parts, and the top-5 timed
right after the model call and warm, in one JSON line."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from benchmarks.payloads import REPO_ROOT


def test_the_limit_and_the_answer_after_the_call_are_measured() -> None:
    command = [sys.executable, "-m", "benchmarks.limit", "--model", "digits", "--runs", "20"]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert set(figures) == {"decode_ms", "ort_ms", "limit_ms", "after_ms", "warm_ms"}
    assert all(value > 0 for value in figures.values()), figures
    assert math.isclose(figures["limit_ms"], figures["decode_ms"] + figures["ort_ms"])
