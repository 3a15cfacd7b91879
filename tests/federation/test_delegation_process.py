"""Delegation between two real gateway processes on loopback: "edge" and "cloud".

The edge's services list the cloud as their member (OSCAR's ``replicas`` + ``clusters``, the
cloud's token fetched with Basic from its ``GET /system/services/<name>``). The edge's digits
runtime cannot load its model (a failed runtime); its ``hold`` script service takes one request
at a time with no waiting line (a full queue); ``ping`` fails on both sides, each listing the
other (a loop, were the hop header not there); ``relay`` lists a dead member before the cloud.
Jobs: digits items go to the cloud's ``/job/digits`` as OSCAR's delegated event (the object in a
store both reach) and are followed; ``bounce``, like ``ping``, runs on neither side.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.federation.members import member_env
from tests.support import (
    DIGITS_YAML,
    ServerProcess,
    digit_png,
    digits_holdout,
    free_port,
    gateway_process,
)

EDGE_ADMIN = "edge-admin-secret"
CLOUD_ADMIN = "cloud-admin-secret"
BUSY_ADMIN = "busy-admin-secret"

EDGE_FDL = """
storage:
  shared: {{type: filesystem, root: "{shared}"}}
services:
  - name: digits
    model: {bad_model}
    input: [{{storage: shared, path: edge/in}}]
    replicas: [{{type: oscar, cluster_id: cloud}}]
    clusters: &clusters
      cloud: {{endpoint: "{cloud}", auth_user: oscar, auth_password: {cloud_admin}}}
      dead: {{endpoint: "{dead}", auth_user: oscar, auth_password: nothing}}
      busy: {{endpoint: "{busy}", auth_user: oscar, auth_password: {busy_admin}}}
  - name: hold
    runtime: script
    script: |
      touch "$HOLD_DIR/started"
      while [ ! -e "$HOLD_DIR/release" ]; do sleep 0.05; done
      echo edge
    environment: {{HOLD_DIR: "{hold_dir}"}}
    replicas: [{{type: oscar, cluster_id: cloud}}]
    clusters: *clusters
  - name: ping
    runtime: script
    cannot_run: declared here, run elsewhere
    replicas: [{{type: oscar, cluster_id: cloud}}]
    clusters: *clusters
  - name: bounce
    runtime: script
    cannot_run: declared here, run elsewhere
    input: [{{storage: shared, path: bounce/in}}]
    replicas: [{{type: oscar, cluster_id: cloud}}]
    clusters: *clusters
  - name: relay
    runtime: script
    cannot_run: declared here, run elsewhere
    replicas:
      - {{type: oscar, cluster_id: cloud, service_name: digits, priority: 1}}
      - {{type: oscar, cluster_id: dead, priority: 0}}
    clusters: *clusters
  - name: spread
    runtime: script
    cannot_run: declared here, run elsewhere
    federation:
      delegation: load-based
      members: [{{cluster_id: busy, priority: 0}}, {{cluster_id: cloud, priority: 1}}]
    clusters: *clusters
"""

BUSY_FDL = """
services:
  - name: spread
    runtime: script
    script: echo busy
  - name: block
    runtime: script
    script: while [ ! -e "$HOLD_DIR/release-busy" ]; do sleep 0.05; done
    environment: {{HOLD_DIR: "{hold_dir}"}}
"""

CLOUD_FDL = """
storage:
  shared: {{type: filesystem, root: "{shared}"}}
services:
  - name: hold
    runtime: script
    script: echo cloud
  - name: ping
    runtime: script
    cannot_run: declared here, run elsewhere
    replicas: [{{type: oscar, cluster_id: edge}}]
    clusters: &clusters
      edge: {{endpoint: "{edge}", auth_user: oscar, auth_password: {edge_admin}}}
  - name: bounce
    runtime: script
    cannot_run: declared here, run elsewhere
    replicas: [{{type: oscar, cluster_id: edge}}]
    clusters: *clusters
  - name: spread
    runtime: script
    script: echo cloud
"""


@pytest.fixture(scope="module")
def hold_dir() -> Iterator[Path]:
    """A folder the edge's boxed script (a user of its own) can write and the test can see."""
    folder = Path(tempfile.mkdtemp(prefix="hold-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for name in ("release", "release-busy"):
            (folder / name).touch()  # a held script ends, whatever happened
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The object store both gateways reach (as OSCAR's members reach the origin's MinIO)."""
    return tmp_path_factory.mktemp("shared")


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"edge": free_port(), "cloud": free_port(), "dead": free_port(), "busy": free_port()}


@pytest.fixture(scope="module")
def cloud(
    tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int], shared: Path
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("cloud")
    fdl = data_dir / "cloud.yaml"
    edge = f"http://127.0.0.1:{ports['edge']}"
    fdl.write_text(CLOUD_FDL.format(edge=edge, edge_admin=EDGE_ADMIN, shared=shared))
    env = {**_delegating_env(data_dir, "cloud", CLOUD_ADMIN), "GATEWAY_JOB_RETRIES": "0"}
    with gateway_process(
        data_dir, DIGITS_YAML, fdl, env=env, port=ports["cloud"], ready_path="/health"
    ) as server:
        _wait_ready(server, CLOUD_ADMIN, "digits", "hold")
        yield server


@pytest.fixture(scope="module")
def busy(
    tmp_path_factory: pytest.TempPathFactory, ports: dict[str, int], hold_dir: Path
) -> Iterator[ServerProcess]:
    """A member with a job that runs until the test lets it go: one job active."""
    data_dir = tmp_path_factory.mktemp("busy")
    fdl = data_dir / "busy.yaml"
    fdl.write_text(BUSY_FDL.format(hold_dir=hold_dir))
    env = _delegating_env(data_dir, "busy", BUSY_ADMIN)
    with gateway_process(data_dir, fdl, env=env, port=ports["busy"]) as server:
        yield server


@pytest.fixture(scope="module")
def edge(
    tmp_path_factory: pytest.TempPathFactory,
    ports: dict[str, int],
    hold_dir: Path,
    shared: Path,
    cloud: ServerProcess,
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("edge")
    bad_model = data_dir / "bad.onnx"
    bad_model.write_bytes(b"this is not an ONNX model")
    fdl = data_dir / "edge.yaml"
    fdl.write_text(
        EDGE_FDL.format(
            bad_model=bad_model,
            cloud=cloud.url,
            dead=f"http://127.0.0.1:{ports['dead']}",
            cloud_admin=CLOUD_ADMIN,
            hold_dir=hold_dir,
            shared=shared,
            busy=f"http://127.0.0.1:{ports['busy']}",
            busy_admin=BUSY_ADMIN,
        )
    )
    env = {
        **_delegating_env(data_dir, "edge", EDGE_ADMIN),
        "GATEWAY_MAX_INFLIGHT_PER_SERVICE": "1",
        "GATEWAY_MAX_QUEUE_PER_SERVICE": "0",
        "GATEWAY_DELEGATION_POLL_INTERVAL": "0.2",
    }
    with gateway_process(
        data_dir, fdl, env=env, port=ports["edge"], ready_path="/health"
    ) as server:
        _wait_ready(server, EDGE_ADMIN, "hold")
        yield server


def _wait_ready(server: ServerProcess, admin: str, *names: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {admin}"}
    while True:
        states = {
            name: httpx.get(f"{server.url}/system/services/{name}", headers=headers).json()["state"]
            for name in names
        }
        if all(state == "ready" for state in states.values()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"services not ready: {states}\n{server.log()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def client(edge: ServerProcess) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {EDGE_ADMIN}"}
    with httpx.Client(base_url=edge.url, headers=headers, timeout=60) as http:
        yield http


def _digit() -> tuple[bytes, str]:
    pixels, labels = digits_holdout()
    return digit_png(pixels[0], ink_on_paper=False), str(labels[0])


def test_failed_runtime_predict_is_served_by_the_member(client: httpx.Client) -> None:
    assert client.get("/system/services/digits").json()["state"] != "ready"
    image, label = _digit()
    response = client.post("/predict/digits", content=image, headers={"Content-Type": "image/png"})
    assert response.status_code == 200, response.text
    assert response.headers["X-Served-By"] == "cloud"
    assert response.json()["predictions"][0]["label"] == label


def test_failed_runtime_run_is_served_by_the_member(client: httpx.Client) -> None:
    image, label = _digit()
    response = client.post("/run/digits", content=base64.b64encode(image))
    assert response.status_code == 200, response.text
    assert response.headers["X-Served-By"] == "cloud"
    assert response.json()["predictions"][0]["label"] == label


def test_failed_runtime_oip_infer_is_served_by_the_member(client: httpx.Client) -> None:
    pixels, _ = digits_holdout()
    body = {
        "inputs": [
            {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": pixels[0].tolist()}
        ]
    }
    response = client.post("/v2/models/digits/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["X-Served-By"] == "cloud"
    assert response.json()["model_name"] == "digits"


def test_full_queue_is_served_by_the_member(client: httpx.Client, hold_dir: Path) -> None:
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(client.post, "/predict/hold", content=b"x",
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
        try:
            _wait_for(lambda: (hold_dir / "started").exists() or held.done())
            assert not held.done(), held.result().text
            response = client.post(
                "/predict/hold", content=b"y", headers={"Content-Type": "application/octet-stream"}
            )
            assert response.status_code == 200, response.text
            assert response.headers["X-Served-By"] == "cloud"
            assert "cloud" in response.json()["log"]
        finally:
            (hold_dir / "release").touch()
        first = held.result()
    assert first.status_code == 200, first.text
    assert first.headers["X-Served-By"] == "edge"
    assert "edge" in first.json()["log"]


def test_two_gateways_listing_each_other_do_not_loop(
    client: httpx.Client, cloud: ServerProcess
) -> None:
    response = client.post("/predict/ping", content=b"x",
                           headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert response.status_code == 503, response.text
    assert "cloud" in response.json()["error"]["message"]
    metrics = httpx.get(f"{cloud.url}/metrics").text
    served = [
        line
        for line in metrics.splitlines()
        if line.startswith("gateway_requests_total{") and 'service="ping"' in line
    ]
    assert len(served) == 1 and served[0].endswith(" 1.0"), served  # once: not sent back


def test_a_dead_member_is_skipped_then_held_off(client: httpx.Client, edge: ServerProcess) -> None:
    image, label = _digit()
    for _ in range(2):
        response = client.post(
            "/predict/relay", content=image, headers={"Content-Type": "image/png"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Served-By"] == "cloud"
        assert response.json()["predictions"][0]["label"] == label
    assert edge.log().count("member dead failed") == 1  # the second request did not try it
    metrics = client.get("/metrics").text
    name = "gateway_delegations_total"
    assert f'{name}{{member="dead",outcome="failed",service="relay"}} 1.0' in metrics
    assert f'{name}{{member="cloud",outcome="taken",service="relay"}} 2.0' in metrics


def test_a_member_token_rotated_there_is_fetched_again(
    client: httpx.Client, cloud: ServerProcess
) -> None:
    image, label = _digit()
    headers = {"Content-Type": "image/png"}
    assert client.post("/predict/digits", content=image, headers=headers).status_code == 200
    admin = {"Authorization": f"Bearer {CLOUD_ADMIN}"}
    rotated = httpx.post(f"{cloud.url}/system/services/digits/token", headers=admin)
    assert rotated.status_code == 200, rotated.text
    response = client.post("/predict/digits", content=image, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["X-Served-By"] == "cloud"
    assert response.json()["predictions"][0]["label"] == label


def test_load_based_delegation_takes_the_least_busy_member(
    client: httpx.Client, busy: ServerProcess, hold_dir: Path
) -> None:
    admin = {"Authorization": f"Bearer {BUSY_ADMIN}"}
    files = {"file": ("x.bin", b"x", "application/octet-stream")}
    blocked = httpx.post(f"{busy.url}/job/block", files=files, headers=admin)
    assert blocked.status_code == 202, blocked.text
    try:
        _wait_for(
            lambda: httpx.get(f"{busy.url}/jobs/{blocked.json()['job_id']}", headers=admin)
            .json()["status"] == "running"
        )  # fmt: skip
        status = httpx.get(f"{busy.url}/system/status", headers=admin).json()
        assert status["OSCAR"]["jobsCount"]["active"] == 1
        response = client.post(
            "/predict/spread", content=b"x", headers={"Content-Type": "application/octet-stream"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-Served-By"] == "cloud"  # static would take busy (priority 0)
    finally:
        (hold_dir / "release-busy").touch()


def test_a_job_is_delegated_and_followed(client: httpx.Client, cloud: ServerProcess) -> None:
    image, label = _digit()
    submitted = client.post("/job/digits", files={"file": ("seven.png", image, "image/png")})
    assert submitted.status_code == 202, submitted.text
    job = _finished(client, submitted.json()["job_id"])
    assert job["status"] == "succeeded", job
    (item,) = job["items"]
    assert item["result"]["predictions"][0]["label"] == label
    assert item["log"].startswith("delegated to cloud as its job ")
    remote_id = item["log"].split()[6]
    remote = httpx.get(
        f"{cloud.url}/jobs/{remote_id}", headers={"Authorization": f"Bearer {CLOUD_ADMIN}"}
    ).json()
    assert remote["source"] == "delegated" and remote["service"] == "digits"
    assert remote["items"][0]["key"] == item["key"]  # the same object, read from the shared store


def test_a_delegated_job_is_not_delegated_again(client: httpx.Client, cloud: ServerProcess) -> None:
    submitted = client.post(
        "/job/bounce", files={"file": ("x.bin", b"x", "application/octet-stream")}
    )
    assert submitted.status_code == 202, submitted.text
    job = _finished(client, submitted.json()["job_id"])
    (item,) = job["items"]
    assert item["status"] == "failed", job  # bounce runs nowhere: the cloud tried it itself
    assert item["log"].startswith("delegated to cloud as its job ")
    admin = {"Authorization": f"Bearer {CLOUD_ADMIN}"}
    jobs = httpx.get(f"{cloud.url}/jobs", params={"service": "bounce"}, headers=admin).json()
    assert len(jobs["jobs"]) == 1


def _finished(client: httpx.Client, job_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job not finished: {job}")
        time.sleep(0.1)


def _wait_for(condition: object, timeout: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


def _delegating_env(data_dir: Path, cluster: str, admin: str) -> dict[str, str]:
    return member_env(data_dir, cluster, admin, GATEWAY_RESTART_BACKOFF_MAX="5")
