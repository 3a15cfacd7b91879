"""OSCAR's own Python client (oscar-python from PyPI, unchanged) against a real gateway process.

The gateway starts as ``make run`` starts it (the demo model files), with an admin token and an
admin password set, so every call below is authenticated as OSCAR's clients do it: HTTP Basic
(user/password) or a Bearer token (oscar-python's ``oidc_token`` option).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from oscar_python.client import Client

from tests.support import DIGITS_YAML, IMAGENET_YAML, ServerProcess, gateway_process, sample_jpeg

ADMIN_TOKEN = "admin-" + "7" * 40
PASSWORD = "oscar-password-" + "3" * 20
CLUSTER = "gateway-test"
FDL = Path(__file__).parent / "fdl" / "greet.yaml"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("oscar")
    env = {"GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, "GATEWAY_ADMIN_PASSWORD": PASSWORD}
    with gateway_process(folder, IMAGENET_YAML, DIGITS_YAML, env=env) as server:
        yield server
    log = server.log()
    for secret in (ADMIN_TOKEN, PASSWORD, "greet-secret-value-42"):
        assert secret not in log, "a secret in the log"  # no secret in any log line
    assert "unexpected error" not in log, log[-4000:]  # what a 500 logs


def basic_client(gateway: ServerProcess, password: str = PASSWORD) -> Client:
    options = {
        "cluster_id": CLUSTER,
        "endpoint": gateway.url,
        "user": "oscar",
        "password": password,
        "ssl": "",  # oscar-python takes bool(options["ssl"])
    }
    return Client(options=options)


def token_client(gateway: ServerProcess, token: str) -> Client:
    return Client({"cluster_id": CLUSTER, "endpoint": gateway.url, "oidc_token": token, "ssl": ""})


@pytest.fixture(scope="module")
def greet(gateway: ServerProcess) -> Iterator[str]:
    """The service of tests/oscar/fdl/greet.yaml, created by oscar-python from the file."""
    client = basic_client(gateway)
    created = client.create_service(str(FDL))
    assert created.status_code == 201, created.text
    yield "greet"
    client.remove_service("greet")


def test_cluster_info_config_status_and_health(gateway: ServerProcess) -> None:
    client = basic_client(gateway)
    assert client.health_check().text == "Ok"
    info = client.get_cluster_info().json()
    assert info["version"] and info["services"] >= 2
    config = client.get_cluster_config().json()
    assert set(config["minio_provider"]) >= {"endpoint", "verify", "access_key", "secret_key"}
    status = client.get_cluster_status().json()
    assert status["numberNodes"] == 1
    assert int(status["detail"][0]["cpuCapacity"]) >= 1000
    assert int(status["detail"][0]["memoryCapacity"]) > 0
    assert set(status["OSCAR"]["jobsCount"]) == {"active", "succeeded", "failed"}


def test_create_from_fdl_then_get_with_its_token(gateway: ServerProcess, greet: str) -> None:
    client = basic_client(gateway)
    service = client.get_service(greet).json()
    assert len(service["token"]) == 64 and int(service["token"], 16) >= 0
    assert service["script"] == (FDL.parent / "greet.sh").read_text()
    assert service["environment"]["variables"] == {"GREETING": "hello"}
    assert service["environment"]["secrets"] == {"GREET_API_KEY": "**********"}
    assert "greet-secret-value-42" not in json.dumps(service)
    assert service["input"][0] == {
        "storage_provider": "minio.default", "path": "greet/in", "suffix": [], "prefix": [],
    }  # fmt: skip
    assert service["cpu"] == "0.5" and service["memory"] == "256Mi"
    assert service["backend"] == "local" and service["state"] == "ready"  # our keys, beside
    listed = {s["name"]: s for s in client.list_services().json()}
    assert greet in listed and "token" not in listed[greet]
    storage = client.create_storage_client(greet)  # reads storage_providers and the config
    assert "default" in storage.storage_providers["minio"]


def test_run_sync_with_text(gateway: ServerProcess, greet: str) -> None:
    client = basic_client(gateway)
    response = client.run_service(greet, input="some text")
    assert response.status_code == 200
    assert base64.b64decode(response.text) == b"hello: some text"


def test_run_sync_with_an_image_file(gateway: ServerProcess, greet: str, tmp_path: Path) -> None:
    photo = tmp_path / "flower.jpg"
    photo.write_bytes(sample_jpeg("flower.jpg"))
    answer = tmp_path / "answer.bin"
    client = basic_client(gateway)
    client.run_service(greet, input=str(photo), output=str(answer))
    assert answer.read_bytes() == b"hello: " + photo.read_bytes()


def test_run_an_onnx_service_answers_its_predictions(
    gateway: ServerProcess, tmp_path: Path
) -> None:
    photo = tmp_path / "flower.jpg"
    photo.write_bytes(sample_jpeg("flower.jpg"))
    response = basic_client(gateway).run_service("imagenet", input=str(photo))
    answer = response.json()
    assert answer["service"] == "imagenet"
    assert "daisy" in [p["label"] for p in answer["predictions"]]


def test_run_with_the_service_token(gateway: ServerProcess, greet: str) -> None:
    token = basic_client(gateway).get_service(greet).json()["token"]
    response = token_client(gateway, token).run_service(greet, input="from a token")
    assert base64.b64decode(response.text) == b"hello: from a token"
    with pytest.raises(requests.HTTPError) as denied:  # a service's token is not the admin's
        token_client(gateway, token).list_services()
    assert denied.value.response.status_code == 403


def test_async_call_then_list_logs_and_remove_the_job(gateway: ServerProcess, greet: str) -> None:
    client = basic_client(gateway)
    response = client.run_service(greet, input="later", async_call=True)
    assert response.status_code == 201 and response.text == ""
    job_id = response.headers["X-Job-Id"]
    assert response.headers["Location"] == f"/jobs/{job_id}"
    jobs = _wait_for_status(client, greet, job_id, "Succeeded")
    assert jobs[job_id]["creation_time"].endswith("Z") and jobs[job_id]["finish_time"]
    log = client.get_job_logs(greet, job_id).text
    assert "succeeded" in log and "greeted event-file-" in log
    assert "output: greet/out/event-file-" in log
    assert client.remove_job(greet, job_id).status_code == 204
    assert job_id not in client.list_jobs(greet).json()["jobs"]


def test_remove_all_jobs_keeps_the_failed_ones(gateway: ServerProcess) -> None:
    client = basic_client(gateway)
    script = 'test "$(cat "$INPUT_FILE_PATH")" = ok || exit 3\necho fine\n'
    service = {"name": "picky", "image": "example/picky", "cpu": "0.5", "script": script}
    assert client.create_service(service).status_code == 201
    try:
        done = client.run_service("picky", input="ok", async_call=True).headers["X-Job-Id"]
        bad = client.run_service("picky", input="no", async_call=True).headers["X-Job-Id"]
        _wait_for_status(client, "picky", done, "Succeeded")
        jobs = _wait_for_status(client, "picky", bad, "Failed")
        assert "exited with status 3" in client.get_job_logs("picky", bad).text
        assert set(jobs) == {done, bad}
        assert client.remove_all_jobs("picky").status_code == 204
        assert set(client.list_jobs("picky").json()["jobs"]) == {bad}
        sync = client.run_service("picky", input="ok")
        assert sync.text.startswith("fine")  # no output file: the script's stdout
    finally:
        client.remove_service("picky")


def test_remove_service(gateway: ServerProcess) -> None:
    client = basic_client(gateway)
    service = {"name": "short-lived", "image": "example/x", "cpu": "1", "script": "echo hi\n"}
    client.create_service(service)
    assert client.remove_service("short-lived").status_code == 204
    response = requests.get(
        f"{gateway.url}/system/services/short-lived", auth=("oscar", PASSWORD), timeout=30
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "service_not_found"


def test_bearer_admin_token_works_as_oidc_token(gateway: ServerProcess) -> None:
    client = token_client(gateway, ADMIN_TOKEN)
    assert {"imagenet", "digits"} <= {s["name"] for s in client.list_services().json()}


@pytest.mark.parametrize("password", ["wrong-password", ADMIN_TOKEN + "x"])
def test_wrong_credentials_answer_403_with_our_body(gateway: ServerProcess, password: str) -> None:
    with pytest.raises(requests.HTTPError) as denied:
        basic_client(gateway, password).get_cluster_info()
    response = denied.value.response
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert password not in response.text


def test_no_credentials_answer_401(gateway: ServerProcess) -> None:
    for method, path in [("GET", "/system/config"), ("GET", "/system/logs/digits"),
                         ("POST", "/run/digits"), ("GET", "/system/status")]:  # fmt: skip
        response = httpx.request(method, gateway.url + path, timeout=30)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["error"]["code"] == "unauthorized"


def test_the_documented_curl_form(gateway: ServerProcess, greet: str, tmp_path: Path) -> None:
    """``base64 in.jpg | curl -H "Authorization: Bearer $TOKEN" -d @- $GW/run/svc | base64 -d``"""
    token = basic_client(gateway).get_service(greet).json()["token"]
    photo = tmp_path / "in.jpg"
    photo.write_bytes(sample_jpeg("china.jpg"))
    if shutil.which("curl") and shutil.which("base64"):
        command = (
            f'base64 "{photo}" | curl -sS -H "Authorization: Bearer $TOKEN" -d @- '
            f'"{gateway.url}/run/{greet}" | base64 -d'
        )
        output = subprocess.run(
            command, shell=True, capture_output=True, check=True, timeout=60,
            env={"TOKEN": token, "PATH": "/usr/bin:/bin"},
        ).stdout  # fmt: skip
    else:  # curl's exact request: newlines stripped, sent as a form body
        body = base64.encodebytes(photo.read_bytes()).replace(b"\n", b"")
        response = httpx.post(
            f"{gateway.url}/run/{greet}",
            content=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            timeout=60,
        )
        output = base64.b64decode(response.text)
    assert output == b"hello: " + photo.read_bytes()


def test_several_outputs_answer_a_zip(gateway: ServerProcess) -> None:
    client = basic_client(gateway)
    script = 'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/a.txt"\necho two > "$TMP_OUTPUT_DIR/b.txt"\n'
    client.create_service({"name": "two-files", "image": "x/y", "cpu": "1", "script": script})
    try:
        response = client.run_service("two-files", input="one")
        archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(response.text)))
        assert {n: archive.read(n) for n in archive.namelist()} == {
            "a.txt": b"one",
            "b.txt": b"two\n",
        }
    finally:
        client.remove_service("two-files")


def test_json_event_is_the_input_as_is(gateway: ServerProcess, greet: str) -> None:
    document = {"records": [1, 2, 3]}
    direct = httpx.post(
        f"{gateway.url}/run/{greet}",
        content=json.dumps(document),
        auth=("oscar", PASSWORD),
        timeout=60,
    )
    assert direct.status_code == 200, direct.text
    assert json.loads(base64.b64decode(direct.text).removeprefix(b"hello: ")) == document


def _wait_for_status(client: Client, service: str, job_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        jobs: dict[str, Any] = client.list_jobs(service).json()["jobs"]
        if jobs.get(job_id, {}).get("status") == status:
            return jobs
        assert time.monotonic() < deadline, f"job {job_id} never became {status}: {jobs}"
        time.sleep(0.1)


def _minio_event(key: str) -> dict[str, Any]:
    """A MinIO bucket notification for ``bucket/rest`` (key URL-encoded, as MinIO sends it)."""
    bucket, _, rest = key.partition("/")
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "eventName": "s3:ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": rest.replace(" ", "+"), "eTag": "e1", "size": 5},
        },
    }
    return {"EventName": "s3:ObjectCreated:Put", "Key": key, "Records": [record]}


def test_storage_events_on_run_and_job(gateway: ServerProcess, greet: str) -> None:
    client = basic_client(gateway)
    job_id = client.run_service(greet, input="stored", async_call=True).headers["X-Job-Id"]
    _wait_for_status(client, greet, job_id, "Succeeded")
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    job = httpx.get(f"{gateway.url}/jobs/{job_id}", headers=admin, timeout=30).json()
    key = job["items"][0]["key"]
    assert key.startswith("greet/in/event-file-")
    event = _minio_event(key)
    run = httpx.post(f"{gateway.url}/run/{greet}", json=event, headers=admin, timeout=60)
    assert run.status_code == 200, run.text
    assert base64.b64decode(run.text) == b"hello: stored"  # the object, fetched from the store
    delegated = {"storage_provider": "minio.default", "event": json.dumps(event)}
    again = httpx.post(f"{gateway.url}/run/{greet}", json=delegated, headers=admin, timeout=60)
    assert base64.b64decode(again.text) == b"hello: stored"
    missing = httpx.post(
        f"{gateway.url}/run/{greet}", json=_minio_event("greet/in/absent"), headers=admin
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    fresh = _minio_event(key)
    fresh["Records"][0]["s3"]["object"]["eTag"] = "another-version"
    queued = httpx.post(f"{gateway.url}/job/{greet}", json=fresh, headers=admin, timeout=30)
    assert queued.status_code == 201 and queued.headers["X-Job-Id"] != job_id
    twice = httpx.post(f"{gateway.url}/job/{greet}", json=fresh, headers=admin, timeout=30)
    assert twice.headers["X-Job-Id"] == queued.headers["X-Job-Id"]  # one object, one job


def test_unsupported_event_sources_and_bad_bodies_are_4xx(
    gateway: ServerProcess, greet: str
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    onedata = {"Records": [{"eventSource": "OneTrigger", "path": "/x"}]}
    for path in (f"/run/{greet}", f"/job/{greet}"):
        refused = httpx.post(gateway.url + path, json=onedata, headers=admin, timeout=30)
        assert refused.status_code == 422, refused.text
        garbled = httpx.post(
            gateway.url + path, content=b"%%not base64%%", headers=admin, timeout=30
        )
        assert garbled.status_code == 400
        assert garbled.json()["error"]["code"] == "bad_request"


def test_a_rotated_token_is_the_one_get_service_gives(gateway: ServerProcess) -> None:
    client = basic_client(gateway)
    service = {"name": "rotated", "image": "x/y", "cpu": "1", "script": "echo rotated\n"}
    client.create_service(service)
    try:
        old = client.get_service("rotated").json()["token"]
        rotated = httpx.post(
            f"{gateway.url}/system/services/rotated/token", auth=("oscar", PASSWORD), timeout=30
        )
        new = rotated.json()["token"]
        assert new != old and client.get_service("rotated").json()["token"] == new
        assert (
            token_client(gateway, new).run_service("rotated", input="x").text.startswith("rotated")
        )
        with pytest.raises(requests.HTTPError) as denied:
            token_client(gateway, old).run_service("rotated", input="x")
        assert denied.value.response.status_code == 403
    finally:
        client.remove_service("rotated")
