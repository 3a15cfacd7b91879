"""The job API in process (httpx.ASGITransport) with a real digits runtime and the filesystem
store: lifecycle, per-item errors, listing, cancelling, the S3 webhook and the watcher."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.backends.local import LocalBackend
from gateway.config import Settings
from gateway.services import ServiceSpec, StorageIO, load_file
from tests.jobs.fakes import StuckBackend
from tests.support import DIGITS_YAML, digit_png, digits_holdout

EVENTS_TOKEN = "events-secret"


def digits_spec() -> ServiceSpec:
    spec = load_file(DIGITS_YAML).services[0]
    return spec.model_copy(
        update={
            "input": (StorageIO(path="uploads/digits"),),
            "output": (StorageIO(path="results/digits", suffix=(".json",)),),
        }
    )


@pytest.fixture(scope="module")
async def gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Starlette, Path]]:
    data_dir = tmp_path_factory.mktemp("jobs-api")
    settings = Settings(
        data_dir=data_dir, watch_interval=0.2, job_retry_backoff=0.05, runtime_threads=1,
        events_token=SecretStr(EVENTS_TOKEN),
    )  # fmt: skip
    stuck = ServiceSpec(name="stuck", runtime="script", script="true", backend="knative")
    backends = {"local": LocalBackend(settings), "knative": StuckBackend()}
    app = create_app(settings, [digits_spec(), stuck], backends=backends)  # type: ignore[dict-item]
    async with app.router.lifespan_context(app):
        yield app, data_dir / "objects"


@pytest.fixture
async def client(gateway: tuple[Starlette, Path]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=gateway[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as http:
        yield http


def _pngs(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    x_test, _ = digits_holdout()
    return [
        (f"{i}.png", digit_png(x_test[i], ink_on_paper=True)) for i in range(start, start + count)
    ]


async def _wait(client: httpx.AsyncClient, job_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = (await client.get(f"/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return dict(job)
        await asyncio.sleep(0.1)


async def test_job_lifecycle_with_a_corrupt_file_among_good_ones(
    client: httpx.AsyncClient, gateway: tuple[Starlette, Path]
) -> None:
    files = [("file", (name, data, "image/png")) for name, data in _pngs(5)]
    files.insert(2, ("file", ("broken.png", b"this is not a png", "image/png")))
    response = await client.post("/job/digits", files=files)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/jobs/{body['job_id']}"

    job = await _wait(client, body["job_id"])
    assert job["status"] == "failed", job  # one item failed: per-item detail below
    assert job["counts"] == {"succeeded": 5, "failed": 1}
    items = {item["key"]: item for item in job["items"]}
    broken = items["uploads/digits/broken.png"]
    assert broken["status"] == "failed" and broken["error"]["code"] == "invalid_image"
    _, y_test = digits_holdout()
    objects = gateway[1]
    for i in range(5):
        item = items[f"uploads/digits/{i}.png"]
        assert item["status"] == "succeeded" and item["outputs"] == [f"results/digits/{i}.json"]
        result = json.loads((objects / "results" / "digits" / f"{i}.json").read_text())
        assert result["input"] == f"uploads/digits/{i}.png"
        assert result["predictions"][0]["label"] == str(y_test[i])

    listed = (await client.get("/jobs", params={"service": "digits", "status": "failed"})).json()
    assert body["job_id"] in [j["job_id"] for j in listed["jobs"]]
    assert "items" not in listed["jobs"][0]


async def test_all_good_files_succeed(client: httpx.AsyncClient) -> None:
    files = [("file", (name, data, "image/png")) for name, data in _pngs(40, start=100)]
    response = await client.post("/job/digits", files=files)
    assert response.status_code == 202
    job = await _wait(client, response.json()["job_id"])
    assert job["status"] == "succeeded" and job["counts"] == {"succeeded": 40}
    metrics = (await client.get("/metrics")).text
    line = next(x for x in metrics.splitlines() if x.startswith("gateway_jobs_total{"))
    assert 'service="digits"' in line and 'status="succeeded"' in line
    assert float(line.rsplit(" ", 1)[1]) >= 40


async def test_cancel_a_queued_job_then_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/job/stuck", files=[("file", ("a.txt", b"a", "text/plain"))])
    job_id = response.json()["job_id"]
    cancelled = await client.delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await client.delete(f"/jobs/{job_id}")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/jobs/nope", {}, 404, "not_found"),
        ("DELETE", "/jobs/nope", {}, 404, "not_found"),
        ("POST", "/job/nope", {"files": [("file", ("a.png", b"x"))]}, 404, "service_not_found"),
        ("POST", "/job/digits", {"content": b"%%", "headers": {"content-type": "text/plain"}},
         400, "bad_request"),
        ("POST", "/job/digits", {"files": [("other", ("a.png", b"x"))]}, 400, "bad_request"),
        ("POST", "/job/digits", {"files": [("file", ("..", b"x"))]}, 422, "invalid_input"),
        ("POST", "/job/digits", {"files": [("file", ("a.png", b"x")), ("file", ("a.png", b"y"))]},
         422, "invalid_input"),
        ("GET", "/jobs?status=bogus", {}, 400, "bad_request"),
    ],
)  # fmt: skip
async def test_errors_are_json(
    client: httpx.AsyncClient, method: str, path: str, kwargs: Any, status: int, code: str
) -> None:
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def minio_event(bucket: str, key: str, etag: str, sequencer: str) -> dict[str, Any]:
    """A bucket notification exactly as MinIO sends it (``mc event add ... --event put``)."""
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{key}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": "2025-01-01T12:00:00.000Z",
                "eventName": "s3:ObjectCreated:Put",
                "userIdentity": {"principalId": "minioadmin"},
                "requestParameters": {
                    "principalId": "minioadmin", "region": "", "sourceIPAddress": "127.0.0.1",
                },
                "responseElements": {
                    "x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac",
                    "x-amz-request-id": "1813F1B0A1C3E2D6",
                    "x-minio-deployment-id": "0f5f4d8e-1c2b-4c39-9b0e-6a4b3c2d1e0f",
                    "x-minio-origin-endpoint": "http://127.0.0.1:9000",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "Config",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "minioadmin"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": key.replace("/", "%2F").replace(" ", "+"),
                        "size": 208,
                        "eTag": etag,
                        "contentType": "image/png",
                        "userMetadata": {"content-type": "image/png"},
                        "sequencer": sequencer,
                    },
                },
                "source": {"host": "127.0.0.1", "port": "", "userAgent": "MinIO (linux; amd64)"},
            }
        ],
    }  # fmt: skip


async def test_s3_webhook_auth_and_dedup(
    client: httpx.AsyncClient, gateway: tuple[Starlette, Path]
) -> None:
    png = _pngs(1, start=7)[0][1]
    target = gateway[1] / "uploads" / "digits" / "hook 7.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written where the watcher cannot see it yet: the event must win the race, or dedupe.
    event = minio_event("uploads", "digits/hook 7.png", "0123abcd" * 4, "17A3B2C1D0E4F5A6")
    auth = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    assert (await client.post("/events/s3", json=event)).status_code == 401
    wrong = await client.post("/events/s3", json=event, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    target.write_bytes(png)
    first = await client.post("/events/s3", json=event, headers=auth)
    assert first.status_code == 200, first.text
    assert len(first.json()["jobs"]) <= 1
    second = await client.post("/events/s3", json=event, headers=auth)
    assert second.json()["jobs"] == []  # the same event twice: one job
    # Whether the event or the watcher made it, the object became exactly one job.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        jobs = (await client.get("/jobs", params={"service": "digits"})).json()["jobs"]
        mine = [j for j in jobs if j["source"] in ("s3-event", "watcher")]
        hooked = [await _wait(client, j["job_id"]) for j in mine]
        keys = [i["key"] for job in hooked for i in job["items"]]
        if "uploads/digits/hook 7.png" in keys:
            break
        await asyncio.sleep(0.2)
    assert keys.count("uploads/digits/hook 7.png") == 1
    other = minio_event("elsewhere", "x.png", "ff" * 16, "1")
    unmatched = (await client.post("/events/s3", json=other, headers=auth)).json()
    assert unmatched["jobs"] == []
    removed = minio_event("uploads", "digits/x.png", "ee" * 16, "2")
    removed["Records"][0]["eventName"] = "s3:ObjectRemoved:Delete"
    assert (await client.post("/events/s3", json=removed, headers=auth)).json()["ignored"] == 1
    bad = await client.post("/events/s3", content=b"{", headers=auth)
    assert bad.status_code == 400


async def test_the_watcher_turns_a_dropped_file_into_one_job(
    client: httpx.AsyncClient, gateway: tuple[Starlette, Path]
) -> None:
    folder = gateway[1] / "uploads" / "digits" / "dropped"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "9.png").write_bytes(_pngs(1, start=9)[0][1])
    deadline = time.monotonic() + 30
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not found:
        jobs = (await client.get("/jobs", params={"service": "digits"})).json()["jobs"]
        for summary in jobs:
            job = (await client.get(f"/jobs/{summary['job_id']}")).json()
            if any(i["key"] == "uploads/digits/dropped/9.png" for i in job["items"]):
                found.append(job)
        await asyncio.sleep(0.2)
    assert len(found) == 1 and found[0]["source"] == "watcher"
    job = await _wait(client, found[0]["job_id"])
    assert job["status"] == "succeeded"
    assert job["items"][0]["outputs"] == ["results/digits/9.json"]
    watcher = gateway[0].state.jobs.watcher
    assert [await watcher.poll(), await watcher.poll()] == [0, 0]  # more passes: no second job
    jobs = (await client.get("/jobs", params={"service": "digits", "limit": 1000})).json()["jobs"]
    watcher_jobs = [j for j in jobs if j["source"] == "watcher"]
    details = [(await client.get(f"/jobs/{j['job_id']}")).json() for j in watcher_jobs]
    keys = [i["key"] for d in details for i in d["items"]]
    assert keys.count("uploads/digits/dropped/9.png") == 1


async def test_webhook_takes_the_admin_token_when_it_has_none_of_its_own(tmp_path: Path) -> None:
    admin = "a" * 64
    settings = Settings(data_dir=tmp_path, admin_token=SecretStr(admin))
    app = create_app(settings, [], backends={"knative": StuckBackend()})  # type: ignore[dict-item]
    event = minio_event("nowhere", "x/y.png", "0123abcd" * 4, "17A3B2C1D0E4F5A7")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            assert (await http.post("/events/s3", json=event)).status_code == 401
            wrong = await http.post("/events/s3", json=event, headers={"Authorization": "Bearer x"})
            assert wrong.status_code == 403
            ok = await http.post(
                "/events/s3", json=event, headers={"Authorization": f"Bearer {admin}"}
            )
            assert ok.status_code == 200 and ok.json()["jobs"] == []  # no service reads there
