"""The results of a job run as a Kubernetes ``batch/v1`` Job (kmock + SeaweedFS, the test playing
the kubelet as in test_batch_jobs): the gateway reads each item's JSON answer back from the store
the pod wrote it to, lists every output file with its size, serves it byte for byte, and keeps
the size cap."""

from __future__ import annotations

import asyncio
import json

from tests.backends.test_batch_jobs import Setup, pngs, running, setup, submit, until
from tests.backends.test_knative import NO_HANG
from tests.seaweed import seaweed
from tests.support import digits_holdout

__all__ = ["seaweed", "setup"]  # the fixtures, imported for this module


async def test_a_kube_jobs_answers_are_inline_and_its_outputs_download(
    setup: Setup, kube_url: str
) -> None:
    _, y = digits_holdout()

    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            job_id = await submit(http, pngs(3))
            job = await until(http, job_id, "succeeded", "failed")
            assert job["counts"] == {"succeeded": 3}, job
            s3 = setup.kubelet.weed.client()
            try:
                for item in job["items"]:
                    i = item["index"]
                    stored = s3.get_object(Bucket=setup.bucket, Key=f"out/{i}.json")["Body"].read()
                    (file,) = item["files"]
                    assert file["storage"] == "minio" and file["name"] == f"{i}.json"
                    assert file["size"] == len(stored)
                    assert item["result"] == json.loads(stored)
                    assert item["result"]["predictions"][0]["label"] == str(y[i])
                    response = await http.get(file["url"])
                    assert response.status_code == 200 and response.content == stored
                    assert response.headers["content-type"] == "application/json"
            finally:
                s3.close()

    await asyncio.wait_for(scenario(), NO_HANG)


async def test_a_kube_jobs_answer_over_the_cap_is_a_marker(setup: Setup, kube_url: str) -> None:
    setup.settings = setup.settings.model_copy(update={"job_result_max_bytes": 100})

    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            job_id = await submit(http, pngs(1))
            job = await until(http, job_id, "succeeded", "failed")
        (item,) = job["items"]
        assert item["status"] == "succeeded" and "result" not in item, item
        marker = item["result_omitted"]
        assert marker["reason"] == "too_large" and marker["limit"] == 100
        assert marker["size"] == item["files"][0]["size"] > 100
        assert marker["url"] == item["files"][0]["url"]

    await asyncio.wait_for(scenario(), NO_HANG)
