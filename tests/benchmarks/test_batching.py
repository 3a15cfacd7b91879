"""``python -m benchmarks.batching`` end to end on this machine's CPU: two real runtimes (batching
on and off), real wrk, every answer checked, the table read back."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from benchmarks.payloads import REPO_ROOT

needs_wrk = pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (`make test` installs it)"
)


def batching(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "benchmarks.batching", "--model", "digits", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


@needs_wrk
def test_both_runtimes_are_measured_at_each_load(tmp_path: Path) -> None:
    output = tmp_path / "batching.md"
    done = batching("--rounds", "1", "--seconds", "1", "--clients", "1", "8", f"--output={output}")
    assert done.returncode == 0, done.stderr
    table = output.read_text()
    assert "Model: digits, on CPUExecutionProvider" in table
    rows = {
        int(cells[0]): cells
        for line in table.splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])
        and cells[0].isdigit()
    }  # fmt: skip
    assert sorted(rows) == [1, 8]
    for cells in rows.values():
        on, off, ratio = float(cells[1]), float(cells[2]), float(cells[3].rstrip("x"))
        assert on > 0 and off > 0 and ratio == pytest.approx(on / off, abs=0.01)
        assert cells[-1] == "0"  # errors: every answer was a 200 with the expected digit
    assert float(rows[1][6]) == 1.0  # one client: batches of one


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="this ONNX Runtime has CUDA"
)
def test_a_gpu_run_on_a_machine_without_one_stops_and_says_why(tmp_path: Path) -> None:
    done = batching("--require-gpu", "--output", str(tmp_path / "never.md"))
    assert done.returncode == 1
    assert "--require-gpu: the runtimes run on" in done.stderr
    assert "CPUExecutionProvider" in done.stderr
    assert not (tmp_path / "never.md").exists()
