"""A job delegated as OSCAR delegates it: the member reads the input from the ORIGIN's store.

OSCAR's body ``{"storage_provider": "<origin cluster id>", "event": <storage event>}``: the
member ("cloud", its own store a folder on its disk, no binding to the origin's) fetches the
origin's MinIO endpoint and keys from the origin's ``GET /system/config`` (Basic, with the
credentials of ``clusters: {edge: ...}``), reads the object from SeaweedFS, and writes the
outputs to its own output binding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.federation.members import member_env
from tests.seaweed import Seaweed
from tests.support import ServerProcess, free_port, python_command, server_process

EDGE_ADMIN = "edge-admin-secret"
CLOUD_ADMIN = "cloud-admin-secret"
UPPER = 'tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH")"'


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, seaweed: Seaweed) -> Iterator[ServerProcess]:
    """The origin: its default store is SeaweedFS."""
    data_dir = tmp_path_factory.mktemp("edge")
    s3 = {"type": "s3", "endpoint": seaweed.endpoint, "access_key": seaweed.access_key,
          "secret_key": seaweed.secret_key}  # fmt: skip
    services = [{"name": "noop", "runtime": "script", "script": "true"}]
    with _gateway(
        data_dir, "edge", EDGE_ADMIN, {"services": services, "storage": {"default": s3}}
    ) as gw:
        yield gw


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, edge: ServerProcess) -> Iterator[ServerProcess]:
    """The member: its stores are its own disk; it knows the edge only from ``clusters:``."""
    data_dir = tmp_path_factory.mktemp("cloud")
    upper = {
        "name": "upper",
        "runtime": "script",
        "script": UPPER,
        "input": [{"path": "upper-in"}],
        "output": [{"path": "upper-out"}],
        "clusters": {
            "edge": {"endpoint": edge.url, "auth_user": "oscar", "auth_password": EDGE_ADMIN}
        },
    }
    with _gateway(data_dir, "cloud", CLOUD_ADMIN, {"services": [upper]}) as gw:
        yield gw


def _gateway(data_dir: Any, cluster: str, admin: str, fdl: dict[str, Any]) -> Any:
    path = data_dir / "services.yaml"
    path.write_text(json.dumps(fdl))  # JSON is YAML
    port = free_port()
    command = python_command("-m", "gateway", "serve", "-f", str(path), "--port", str(port))
    env = member_env(data_dir, cluster, admin)
    return server_process(command, port=port, log_path=data_dir / "gateway.log", env=env)


def _delegated(bucket: str, key: str) -> dict[str, Any]:
    record = {"eventSource": "minio:s3", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
    return {"storage_provider": "edge", "event": {"Records": [record]}}


def test_a_delegated_job_reads_the_origin_store_and_writes_its_own(
    cloud: ServerProcess, seaweed: Seaweed
) -> None:
    bucket = seaweed.new_bucket()
    seaweed.client().put_object(Bucket=bucket, Key="in/note.txt", Body=b"from the edge")
    admin = {"Authorization": f"Bearer {CLOUD_ADMIN}"}
    with httpx.Client(base_url=cloud.url, headers=admin, timeout=60) as http:
        answer = http.post("/job/upper", json=_delegated(bucket, "in/note.txt"))
        assert answer.status_code == 201, answer.text
        job_id = answer.headers["X-Job-Id"]
        job = _wait_ended(http, job_id)
        assert job["status"] == "succeeded", job
        (item,) = job["items"]
        assert item["storage"] == "origin.edge"  # read from there
        assert item["outputs"] == ["upper-out/note.txt"]  # written here
        fetched = http.get(f"/jobs/{job_id}/items/0/outputs/note.txt")
    assert fetched.status_code == 200
    assert fetched.content == b"FROM THE EDGE"
    assert "secret" not in cloud.log().lower()


def test_an_object_missing_at_the_origin_is_a_404(cloud: ServerProcess, seaweed: Seaweed) -> None:
    bucket = seaweed.new_bucket()
    admin = {"Authorization": f"Bearer {CLOUD_ADMIN}"}
    with httpx.Client(base_url=cloud.url, headers=admin, timeout=60) as http:
        answer = http.post("/job/upper", json=_delegated(bucket, "in/absent.txt"))
    assert answer.status_code == 404, answer.text


def _wait_ended(http: httpx.Client, job_id: str) -> dict[str, Any]:
    for _ in range(1200):  # each poll is a request: a bound on polls, not on time
        job: dict[str, Any] = http.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        http.get("/health")
    raise AssertionError(f"job {job_id} did not end")
