"""The object store goes down during a job: a real SeaweedFS (its own `weed mini`, not the shared
one) is killed while a job of digit PNGs runs through an in-process gateway whose ``default``
storage it is, then started again on the same ports and data.

What "not lost" means: items that hit the outage are retried (``job_retries`` times, with
exponential ``job_retry_backoff``), so an outage shorter than that window costs nothing; past
it they fail with a clear ``unavailable`` error naming the object store, the job and every
item's fate stay durable and answerable (through the outage and a gateway restart), the
outputs already written are kept, and re-submitting the failed files once the store is back
completes them, each output written exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.backends.local import LocalBackend
from gateway.config import Settings
from gateway.errors import Unavailable
from gateway.services import ServiceSpec, StorageIO, StorageSpec, load_file
from gateway.storage.s3 import S3Store
from runtimes.onnx.spec import BatchingSpec
from tests.seaweed import SeaweedProcess
from tests.support import DIGITS_YAML, digit_png, digits_holdout

FILES = 20


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedProcess]:
    """This module's own SeaweedFS: the tests stop and start it (the shared one stays up)."""
    process = SeaweedProcess(tmp_path_factory.mktemp("seaweed-outage"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def s3(weed: SeaweedProcess) -> SeaweedProcess:
    if weed.proc is None:  # a previous test failed while the store was down
        weed.start()
    return weed


def _spec(bucket: str, batch: int) -> ServiceSpec:
    spec = load_file(DIGITS_YAML).services[0]
    return spec.model_copy(
        update={
            "input": (StorageIO(path=f"{bucket}/in"),),
            "output": (StorageIO(path=f"{bucket}/out", suffix=(".json",)),),
            "batching": BatchingSpec(max_batch_size=batch, max_latency_ms=1),
        }
    )


@asynccontextmanager
async def _gateway(
    data_dir: Path, weed: SeaweedProcess, spec: ServiceSpec, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in process, its ``default`` storage the S3 server, one batch at a time."""
    config = Settings(
        data_dir=data_dir, runtime_threads=1, job_concurrency=1, watch_interval=0.5, **settings
    )
    server = weed.server
    storage = {
        "default": StorageSpec(
            type="s3",
            endpoint=server.endpoint,
            access_key=server.access_key,
            secret_key=server.secret_key,
        )
    }
    backends = {"local": LocalBackend(config)}
    app = create_app(config, [spec], backends=backends, storage=storage)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as http:
            yield http


def _files(indices: range | list[int]) -> list[tuple[str, tuple[str, bytes, str]]]:
    x_test, _ = digits_holdout()
    return [
        ("file", (f"{i}.png", digit_png(x_test[i], ink_on_paper=True), "image/png"))
        for i in indices
    ]


async def _job(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    response = await client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _until(
    client: httpx.AsyncClient, job_id: str, done: Any, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = await _job(client, job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.005)


def _finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def _outputs(weed: SeaweedProcess, bucket: str) -> dict[str, dict[str, Any]]:
    """Every object under ``bucket/out`` (key -> parsed JSON), read straight from S3."""
    client = weed.server.client()
    try:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])
        return {
            obj["Key"]: json.loads(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            for obj in listed
        }
    finally:
        client.close()


def _retries(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the workers retried a batch because the object store was unreachable."""
    return sum(
        "object store unreachable" in r.getMessage() and "; retry " in r.getMessage()
        for r in caplog.records
    )


async def _until_retried(
    caplog: pytest.LogCaptureFixture, retries: int, timeout: float = 30
) -> None:
    """Until the workers have retried `retries` times because the object store was unreachable."""
    deadline = time.monotonic() + timeout
    while _retries(caplog) < retries:
        assert time.monotonic() < deadline, f"fewer than {retries} retries in {timeout} s"
        await asyncio.sleep(0.005)


def _check_outputs(weed: SeaweedProcess, bucket: str) -> None:
    """One output per input, no more, each the right document."""
    _, y_test = digits_holdout()
    outputs = _outputs(weed, bucket)
    assert sorted(outputs) == sorted(f"out/{i}.json" for i in range(FILES))
    correct = 0
    for i in range(FILES):
        document = outputs[f"out/{i}.json"]
        assert document["input"] == f"{bucket}/in/{i}.png"
        correct += document["predictions"][0]["label"] == str(y_test[i])
    assert correct >= 0.8 * FILES


async def test_a_short_store_outage_mid_job_is_retried_and_the_job_succeeds(
    s3: SeaweedProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.jobs")
    bucket = s3.server.new_bucket()
    retry = {"job_retries": 6, "job_retry_backoff": 0.2}  # a window of 0.2 + 0.4 + ... = 12.6 s
    async with _gateway(tmp_path, s3, _spec(bucket, batch=1), **retry) as client:
        response = await client.post("/job/digits", files=_files(range(FILES)))
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        job = await _until(client, job_id, lambda j: j["counts"].get("succeeded", 0) >= 2)
        await asyncio.to_thread(s3.stop, kill=True)
        at_outage = job["counts"].get("succeeded", 0)
        assert 2 <= at_outage < FILES, job["counts"]

        # the store is down: the workers meet it and wait for it (two retries), no item fails
        await _until_retried(caplog, 2)
        during = await _job(client, job_id)
        assert during["status"] == "running" and "failed" not in during["counts"], during
        await asyncio.to_thread(s3.start)

        job = await _until(client, job_id, _finished)
        assert job["status"] == "succeeded", job
        assert job["counts"] == {"succeeded": FILES}
        assert max(item["attempts"] for item in job["items"]) >= 2  # the retries are recorded
        for item in job["items"]:
            assert item["outputs"] == [f"{bucket}/out/{item['index']}.json"], item
    assert _retries(caplog) >= 1  # the outage was met, and waited out
    _check_outputs(s3, bucket)


async def test_a_store_outage_past_the_retries_fails_items_clearly_and_keeps_the_job(
    s3: SeaweedProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gateway.jobs")
    bucket = s3.server.new_bucket()
    spec = _spec(bucket, batch=4)
    retry = {"job_retries": 2, "job_retry_backoff": 0.1}
    async with _gateway(tmp_path, s3, spec, **retry) as client:
        response = await client.post("/job/digits", files=_files(range(FILES)))
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        await _until(client, job_id, lambda j: j["counts"].get("succeeded", 0) >= 2)
        await asyncio.to_thread(s3.stop, kill=True)

        job = await _until(client, job_id, _finished)
        assert job["status"] == "failed", job
        succeeded = [item for item in job["items"] if item["status"] == "succeeded"]
        failed = [item for item in job["items"] if item["status"] == "failed"]
        assert succeeded and failed and len(succeeded) + len(failed) == FILES
        assert all(item["attempts"] == 3 for item in failed)  # 1 try + job_retries (2)
        batches = -(-len(failed) // 4)  # each batch retried job_retries times, then failed
        assert _retries(caplog) == 2 * batches
        for item in failed:  # a clear, retryable error
            assert item["error"]["code"] == "unavailable", item
            assert "object store unreachable" in item["error"]["message"], item
            assert item["outputs"] == []
        for item in succeeded:
            assert item["outputs"] == [f"{bucket}/out/{item['index']}.json"], item

        refused = await client.post("/job/digits", files=_files([0]))  # nowhere to put it
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"]
        assert refused.json()["error"]["code"] == "unavailable"

    # the gateway restarts while the store is still down: the job is all there
    async with _gateway(tmp_path, s3, spec, **retry) as client:
        assert await _job(client, job_id) == job
        await asyncio.to_thread(s3.start)
        again = [item["index"] for item in failed]
        response = await client.post("/job/digits", files=_files(again))
        assert response.status_code == 202, response.text
        retried = await _until(client, response.json()["job_id"], _finished)
        assert retried["status"] == "succeeded", retried
        assert retried["counts"] == {"succeeded": len(again)}
        assert (await _job(client, job_id))["counts"] == job["counts"]  # the record is history
    _check_outputs(s3, bucket)


async def test_a_store_that_drops_the_connection_is_unavailable_not_an_upstream_error() -> None:
    """Reset mid-request (a store going down under a call), after botocore's own retries: the same
    retryable 503 `unavailable` as a refused connection, not a 502 that reads as its answer."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        store = S3Store(f"http://127.0.0.1:{port}", "key", "secret")
        try:
            with pytest.raises(Unavailable, match="object store unreachable") as raised:
                await store.get("bucket/photo.png")
        finally:
            await store.aclose()
    assert raised.value.status_code == 503 and raised.value.headers()["Retry-After"]
