"""kill -9 the gateway while a 200-file job runs, restart it on the same data folder: every item
ends exactly once, none lost, none duplicated in the outputs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import DIGITS_YAML, digit_png, digits_holdout, gateway_process

FILES = 200


def _fdl(folder: Path) -> Path:
    """The digits service, in batches of 2, one batch at a time: a job that takes a while."""
    service = yaml.safe_load(DIGITS_YAML.read_text())["services"][0]
    for field in ("model", "labels"):
        service[field] = str((DIGITS_YAML.parent / service[field]).resolve())
    service["batching"] = {"max_batch_size": 2, "max_latency_ms": 1}
    path = folder / "digits.yaml"
    path.write_text(yaml.safe_dump({"services": [service]}))
    return path


def _start(data_dir: Path, fdl: Path, name: str) -> Any:
    env = {"GATEWAY_JOB_CONCURRENCY": "1", "GATEWAY_RUNTIME_THREADS": "1"}
    return gateway_process(data_dir, fdl, env=env, log_name=f"{name}.log")


def _counts(db: Path, job_id: str) -> dict[str, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT state, COUNT(*) FROM items WHERE job_id = ? GROUP BY state", (job_id,)
        ).fetchall()
    conn.close()
    return {str(state): int(count) for state, count in rows}


def test_kill_9_mid_job_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    fdl = _fdl(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    x_test, y_test = digits_holdout()
    files = [
        ("file", (f"{i}.png", digit_png(x_test[i], ink_on_paper=i % 2 == 0), "image/png"))
        for i in range(FILES)
    ]
    with _start(data_dir, fdl, "first") as first:
        with httpx.Client(base_url=first.url, timeout=60) as client:
            response = client.post("/job/digits", files=files)
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                counts = client.get(f"/jobs/{job_id}").json()["counts"]
                if counts.get("succeeded", 0) >= 10:
                    break
                time.sleep(0.01)
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
    at_kill = _counts(data_dir / "jobs.db", job_id)
    assert 10 <= at_kill.get("succeeded", 0) < FILES, at_kill  # killed mid-job

    with _start(data_dir, fdl, "second") as second:
        with httpx.Client(base_url=second.url, timeout=60) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                job = client.get(f"/jobs/{job_id}").json()
                if job["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.2)
    assert job["status"] == "succeeded", job["counts"]
    assert job["counts"] == {"succeeded": FILES}
    outputs = [o for item in job["items"] for o in item["outputs"]]
    assert sorted(outputs) == sorted(f"digits/out/{i}.json" for i in range(FILES))
    folder = data_dir / "objects" / "digits" / "out"
    stored = sorted(p.name for p in folder.iterdir())
    assert stored == sorted(f"{i}.json" for i in range(FILES))  # each output once, no leftovers
    correct = 0
    for i in range(FILES):
        result = json.loads((folder / f"{i}.json").read_text())
        assert result["input"] == f"digits/in/{i}.png"
        correct += result["predictions"][0]["label"] == str(y_test[i])
    assert correct >= 0.9 * FILES
    if at_kill.get("running"):
        assert "re-queued" in (data_dir / "second.log").read_text()
