"""usable_cores: the affinity mask, capped by the cgroup's CPU quota (a container's cpu limit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtimes.onnx.cores import cpu_quota, usable_cores

AFFINITY = len(os.sched_getaffinity(0))


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "200000 100000\n"}, 2.0),  # cgroup v2, cpu: 2
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),  # no limit
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup files at all (not Linux, or not mounted)
        ({"cpu.max": "garbage\n"}, None),
    ],
)
def test_the_quota_in_cores(tmp_path: Path, files: dict[str, str], quota: float | None) -> None:
    assert cpu_quota(cgroup(tmp_path, files)) == quota


def test_a_quota_caps_the_cores_rounded_up_and_never_below_one(tmp_path: Path) -> None:
    assert usable_cores(cgroup(tmp_path / "none", {})) == AFFINITY
    assert usable_cores(cgroup(tmp_path / "half", {"cpu.max": "50000 100000"})) == 1
    one_and_a_half = cgroup(tmp_path / "1.5", {"cpu.max": "150000 100000"})
    assert usable_cores(one_and_a_half) == min(AFFINITY, 2)
    assert usable_cores(cgroup(tmp_path / "many", {"cpu.max": "6400000 100000"})) == AFFINITY
