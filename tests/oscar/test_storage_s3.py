"""oscar-python's storage client and OSCAR's async flow against a gateway whose default store is a
real S3 server (SeaweedFS): the admin gets the store's keys from ``/system/config``, a service's
token does not; a file uploaded by oscar-python under the input path becomes a job whose output
oscar-python lists and downloads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from oscar_python.client import Client

from tests.seaweed import Seaweed
from tests.support import ServerProcess, gateway_process

ADMIN = "admin-" + "4" * 40
SCRIPT = Path(__file__).parent / "fdl" / "greet.sh"


@pytest.fixture(scope="module")
def bucket(seaweed: Seaweed) -> str:
    return seaweed.new_bucket()


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, seaweed: Seaweed, bucket: str
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("oscar-s3")
    fdl = data_dir / "s3greet.yaml"
    service = {
        "name": "s3greet",
        "image": "ghcr.io/example/greet:1.0",
        "cpu": "0.5",
        "script": str(SCRIPT),
        "environment": {"variables": {"GREETING": "stored"}},
        "input": [{"storage_provider": "minio.default", "path": f"{bucket}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{bucket}/out"}],
    }
    provider = {
        "endpoint": seaweed.endpoint,
        "verify": False,
        "access_key": seaweed.access_key,
        "secret_key": seaweed.secret_key,
        "region": "us-east-1",
    }
    document = {
        "functions": {"oscar": [{"gw": service}]},
        "storage_providers": {"minio": {"default": provider}},
    }
    fdl.write_text(yaml.safe_dump(document))
    env = {"GATEWAY_ADMIN_TOKEN": ADMIN, "GATEWAY_WATCH_INTERVAL": "0.2"}
    with gateway_process(data_dir, fdl, env=env) as server:
        yield server
    log = server.log()
    assert seaweed.secret_key not in log and ADMIN not in log


def _client(gateway: ServerProcess, **auth: str) -> Client:
    return Client({"cluster_id": "gw", "endpoint": gateway.url, "ssl": "", **auth})


def test_config_gives_the_store_keys_to_the_admin_only(
    gateway: ServerProcess, seaweed: Seaweed
) -> None:
    admin = _client(gateway, user="oscar", password=ADMIN)
    provider = admin.get_cluster_config().json()["minio_provider"]
    assert provider["endpoint"] == seaweed.endpoint
    assert (provider["access_key"], provider["secret_key"]) == (
        seaweed.access_key,
        seaweed.secret_key,
    )
    token = admin.get_service("s3greet").json()["token"]
    assert seaweed.secret_key not in admin.get_service("s3greet").text
    blank = _client(gateway, oidc_token=token).get_cluster_config().json()["minio_provider"]
    assert blank["endpoint"] == seaweed.endpoint
    assert (blank["access_key"], blank["secret_key"]) == ("", "")


def test_an_upload_by_oscar_python_becomes_a_job_and_its_output_comes_back(
    gateway: ServerProcess, bucket: str, tmp_path: Path
) -> None:
    admin = _client(gateway, user="oscar", password=ADMIN)
    storage = admin.create_storage_client("s3greet")
    local = tmp_path / "note.txt"
    local.write_text("from a bucket")
    storage.upload_file("minio.default", str(local), f"{bucket}/in")
    deadline = time.monotonic() + 60
    while True:  # the bucket watcher turns the new object into a job
        listed = storage.list_files_from_path("minio.default", f"{bucket}/out")
        keys = [obj["Key"] for obj in listed.get("Contents", [])]
        if "out/note.txt.out" in keys:
            break
        assert time.monotonic() < deadline, f"no output after 60 s: {keys}"
        time.sleep(0.1)
    jobs = admin.list_jobs("s3greet").json()["jobs"]
    assert [job["status"] for job in jobs.values()] == ["Succeeded"]
    storage.download_file("minio.default", str(tmp_path), f"{bucket}/out/note.txt.out")
    assert (tmp_path / "note.txt.out").read_bytes() == b"stored: from a bucket"


def test_a_sync_run_stores_its_output_too(gateway: ServerProcess, bucket: str) -> None:
    admin = _client(gateway, user="oscar", password=ADMIN)
    admin.run_service("s3greet", input="sync")
    storage = admin.create_storage_client("s3greet")
    listed = storage.list_files_from_path("minio.default", f"{bucket}/out")
    names = [obj["Key"] for obj in listed.get("Contents", [])]
    assert any(name.startswith("out/event-file-") for name in names), names
