"""A pipeline across gateways: stage 1 runs on the "edge" gateway, stage 2 on another one.

The edge's ``stage1`` writes its output to ``storage: oscar.<cluster>`` with ``path: stage2``:
each file is posted to that cluster's ``/job/stage2`` (OSCAR's base64 body), kept in the edge's
outbox until taken. ``stage2`` echoes its input, so a stage-2 job's log is what stage 1 wrote.
The "late" cluster is down at first, comes up, goes down mid-pipeline and comes back: every
item still ends there exactly once.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.federation.members import member_env
from tests.support import ServerProcess, free_port, gateway_process

T = TypeVar("T")
EDGE_ADMIN = "edge-admin-secret"
OTHER_ADMIN = "other-admin-secret"

EDGE_FDL = """
services:
  - name: stage1
    runtime: script
    script: tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH")"
    output: [{{storage: oscar.cloud, path: stage2}}]
    clusters: &clusters
      cloud: {{endpoint: "{cloud}", auth_user: oscar, auth_password: {admin}}}
      late: {{endpoint: "{late}", auth_user: oscar, auth_password: {admin}}}
  - name: stage1late
    runtime: script
    script: tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH")"
    output: [{{storage: oscar.late, path: stage2}}]
    clusters: *clusters
  - name: stage1url
    runtime: script
    script: tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH")"
    output: [{{storage: "{cloud}", path: byurl}}]
    clusters: *clusters
"""

OTHER_FDL = """
services:
  - name: stage2
    runtime: script
    script: cat "$INPUT_FILE_PATH"
  - name: byurl
    runtime: script
    script: cat "$INPUT_FILE_PATH"
  - name: once
    runtime: script
    script: cat "$INPUT_FILE_PATH"
"""


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"edge": free_port(), "cloud": free_port(), "late": free_port()}


def _other(data_dir: Path, port: int) -> Any:
    fdl = data_dir / "other.yaml"
    fdl.write_text(OTHER_FDL)
    return gateway_process(data_dir, fdl, env=member_env(data_dir, "other", OTHER_ADMIN), port=port)


@pytest.fixture(scope="module")
def cloud(
    tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int]
) -> Iterator[ServerProcess]:
    with _other(tmp_path_factory.mktemp("cloud"), ports["cloud"]) as server:
        yield server


@pytest.fixture(scope="module")
def edge(
    tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int], cloud: ServerProcess
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("edge")
    fdl = data_dir / "edge.yaml"
    late = f"http://127.0.0.1:{ports['late']}"
    fdl.write_text(EDGE_FDL.format(cloud=cloud.url, late=late, admin=OTHER_ADMIN))
    env = {**member_env(data_dir, "edge", EDGE_ADMIN), "GATEWAY_DELEGATION_RETRY_INTERVAL": "0.3"}
    with gateway_process(data_dir, fdl, env=env, port=ports["edge"]) as server:
        yield server


@pytest.fixture(scope="module")
def client(edge: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {EDGE_ADMIN}"}
    with httpx.Client(base_url=edge.url, headers=headers, timeout=60) as http:
        yield http


def _submit(client: httpx.Client, service: str, texts: list[str]) -> None:
    for text in texts:
        files = {"file": (f"{text}.txt", text.encode(), "text/plain")}
        response = client.post(f"/job/{service}", files=files)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = _wait_for(lambda: _ended(client, job_id))  # noqa: B023 (called at once)
        assert job["status"] == "succeeded", job  # done here once its output is in the outbox


def _ended(client: httpx.Client, job_id: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
    return job if job["status"] in ("succeeded", "failed", "cancelled") else None


def _stage2_logs(url: str, service: str = "stage2") -> list[str] | None:
    """The logs of the stage-2 jobs at `url`, once all of them ended (None: some still run)."""
    admin = {"Authorization": f"Bearer {OTHER_ADMIN}"}
    listed = httpx.get(f"{url}/jobs", params={"service": service}, headers=admin).json()
    logs = []
    for summary in listed["jobs"]:
        job = httpx.get(f"{url}/jobs/{summary['job_id']}", headers=admin).json()
        if job["status"] not in ("succeeded", "failed"):
            return None
        (item,) = job["items"]
        assert item["status"] == "succeeded", job
        logs.append(item["log"].strip())
    return logs


def test_stage_two_runs_on_the_other_gateway(client: httpx.Client, cloud: ServerProcess) -> None:
    _submit(client, "stage1", ["alpha", "beta"])
    logs = _wait_for(lambda: _complete(_stage2_logs(cloud.url), 2))
    assert sorted(logs) == ["ALPHA", "BETA"]


def test_an_output_bound_to_a_member_url_runs_there(
    client: httpx.Client, cloud: ServerProcess
) -> None:
    """``storage: <the member's URL>``, ``path: <its service>``: posted there through the
    outbox, with the credentials of the cluster of that endpoint."""
    _submit(client, "stage1url", ["gamma"])
    logs = _wait_for(lambda: _complete(_stage2_logs(cloud.url, "byurl"), 1))
    assert logs == ["GAMMA"]


def test_a_member_down_mid_pipeline_then_back_loses_nothing(
    client: httpx.Client, edge: ServerProcess, tmp_path: Path, ports: dict[str, int]
) -> None:
    _submit(client, "stage1late", ["one", "two"])  # the late cluster is not up yet
    _wait_for(lambda: ("for oscar.late waits" in edge.log()) or None)
    with _other(tmp_path, ports["late"]) as late:
        _wait_for(lambda: _complete(_stage2_logs(late.url), 2))
    _submit(client, "stage1late", ["three", "four"])  # down again, mid-pipeline
    with _other(tmp_path, ports["late"]) as late:  # back, with its jobs of before
        logs = _wait_for(lambda: _complete(_stage2_logs(late.url), 4))
        assert Counter(logs) == Counter(["ONE", "TWO", "THREE", "FOUR"])  # each once
        sent = edge.log().count("to late's service stage2")
        assert sent == 4, edge.log()  # the outbox is empty: nothing more will come


def test_a_file_sent_again_with_its_delivery_id_is_the_same_job(cloud: ServerProcess) -> None:
    """The outbox's crash window (the other side took it, the delete did not happen): the
    same entry is posted again with the same ``X-Delegated-Job-ID``; one job, named twice."""
    admin = {"Authorization": f"Bearer {OTHER_ADMIN}"}
    body = base64.b64encode(b"only once")
    sent = {**admin, "Content-Type": "text/plain", "X-Delegated-Job-ID": "edge-0123abcd"}
    with httpx.Client(base_url=cloud.url, timeout=30) as http:
        first = http.post("/job/once", content=body, headers=sent)
        again = http.post("/job/once", content=body, headers=sent)
        other = http.post("/job/once", content=body, headers={**sent, "X-Delegated-Job-ID": "x"})
        listed = http.get("/jobs", params={"service": "once"}, headers=admin).json()
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 201)
    assert again.headers["X-Job-Id"] == first.headers["X-Job-Id"]
    assert other.headers["X-Job-Id"] != first.headers["X-Job-Id"]
    jobs = sorted(job["job_id"] for job in listed["jobs"])
    assert jobs == sorted([first.headers["X-Job-Id"], other.headers["X-Job-Id"]])


def _complete(logs: list[str] | None, count: int) -> list[str] | None:
    return logs if logs is not None and len(logs) >= count else None


def _wait_for(condition: Callable[[], T | None], timeout: float = 90) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.1)
