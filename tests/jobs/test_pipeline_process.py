"""The two-stage demo pipeline (model_images/pipeline.yaml) through a real `gateway serve`:
images -> ImageNet classification -> CSV report rows, by API upload and by dropping a file."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.services import load_file
from tests.support import CHINA_LABELS, ROOT, ServerProcess, gateway_process, sample_jpeg

PIPELINE = ROOT / "model_images" / "pipeline.yaml"


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A gateway of its own for each test: what one test's files start never shows in
    another's jobs, whatever the order."""
    env = {"GATEWAY_WATCH_INTERVAL": "0.3", "GATEWAY_RUNTIME_THREADS": "1"}
    with gateway_process(tmp_path_factory.mktemp("pipeline"), PIPELINE, env=env) as server:
        yield server


def _rows(objects: Path, names: list[str], timeout: float = 90) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    folder = objects / "pipeline" / "report"
    while time.monotonic() < deadline:
        if all((folder / f"{name}.csv").exists() for name in names):
            break
        time.sleep(0.2)
    rows = {}
    for name in names:
        text = (folder / f"{name}.csv").read_text()
        (rows[name],) = list(csv.reader(io.StringIO(text)))
    return rows


def _wait(client: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = dict(client.get(f"/jobs/{job_id}").json())
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_the_demo_script_is_the_report_script() -> None:
    report = {s.name: s for s in load_file(PIPELINE).services}["report"]
    assert report.script == (ROOT / "model_images" / "report" / "report.sh").read_text()


def test_uploaded_images_flow_through_both_stages(gateway: ServerProcess) -> None:
    objects = gateway.log_path.parent / "objects"
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        files = [
            ("file", ("flower.jpg", sample_jpeg("flower.jpg"), "image/jpeg")),
            ("file", ("china.jpg", sample_jpeg("china.jpg"), "image/jpeg")),
        ]
        response = client.post("/job/classify", files=files)
        assert response.status_code == 202, response.text
        job = _wait(client, response.json()["job_id"])
        assert job["status"] == "succeeded", job
        outputs = sorted(o for item in job["items"] for o in item["outputs"])
        assert outputs == ["pipeline/classified/china.json", "pipeline/classified/flower.json"]

        rows = _rows(objects, ["flower", "china"])
        assert rows["flower"][:2] == ["pipeline/images/flower.jpg", "daisy"]
        assert rows["china"][0] == "pipeline/images/china.jpg"
        assert rows["china"][1] in CHINA_LABELS
        assert 0 < float(rows["flower"][3]) <= 1

        # The report stage ran once per classified image, as pipeline jobs, with its log kept.
        reports = client.get("/jobs", params={"service": "report"}).json()["jobs"]
        details = [_wait(client, j["job_id"]) for j in reports]
        keys = [i["key"] for d in details for i in d["items"]]
        assert sorted(keys) == ["pipeline/classified/china.json", "pipeline/classified/flower.json"]
        assert all(d["status"] == "succeeded" for d in details)
        assert "report: flower" in "".join(i.get("log", "") for d in details for i in d["items"])


def test_a_file_dropped_in_the_input_folder_is_picked_up(gateway: ServerProcess) -> None:
    objects = gateway.log_path.parent / "objects"
    target = objects / "pipeline" / "images" / "dropped-flower.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(".dropped-flower.jpg.part")  # hidden names are not objects
    staging.write_bytes(sample_jpeg("flower.jpg"))
    staging.rename(target)
    rows = _rows(objects, ["dropped-flower"])
    assert rows["dropped-flower"][:2] == ["pipeline/images/dropped-flower.jpg", "daisy"]
