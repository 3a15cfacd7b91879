"""Jobs of Kubernetes-backed services run as one ``batch/v1`` Job each: the Job object validates
against the official schemas (cpu, gpu, arm64), and end to end on the kmock emulator and a real S3
server (SeaweedFS): the test plays the kubelet and the Job controller (it runs the pod's command,
``python -m runtimes.batch``, locally and patches the Job's status), the gateway finishes the
items from the pod's records; a corrupt file fails only its item, a failed Job fails the job with
its reason, cancelling a queued job deletes its Job, and a restarted gateway resumes watching."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from kubernetes import client
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.backends.knative import KnativeBackend
from gateway.config import Settings
from gateway.jobs.kube_work import job_name, secret_name
from gateway.kube.objects import JOB_COMMAND, JOB_LABEL, batch_job
from gateway.services import ServiceSpec, StorageIO, StorageSpec
from tests.backends import cluster
from tests.backends.conftest import gone, kube_settings, make_api_client
from tests.backends.test_knative import NO_HANG, gateway, knative_spec
from tests.backends.test_objects import SPECS, validate_k8s
from tests.seaweed import Seaweed, seaweed
from tests.support import DIGITS_YAML, ROOT, digit_png, digits_holdout

__all__ = ["seaweed"]  # the fixture, imported for this module

MERGE = "application/merge-patch+json"
NOW = "2026-11-30T12:00:00Z"
Mode = Literal["run", "fail", "hold"]


# --- (a) the Job object --------------------------------------------------------------------------


@pytest.mark.parametrize("spec", SPECS[:3], ids=lambda s: s.name)
def test_job_object_validates(spec: ServiceSpec) -> None:
    settings = Settings(kube_namespace="ml")
    job_id = "0123456789abcdef0123456789abcdef"
    name = job_name(spec.name, job_id)
    env = {"JOB_ID": job_id, "JOB_MANIFEST": "out/_gateway/jobs/x/work.json"}
    job = batch_job(
        spec, settings, name=name, job_id=job_id, items=10, env=env, secret=secret_name("minio")
    )
    validate_k8s(job)
    assert len(name) <= 63
    pod = job["spec"]["template"]["spec"]
    (runner,) = pod["containers"]
    assert runner["command"] == list(JOB_COMMAND) and "readinessProbe" not in runner
    assert runner["envFrom"] == [{"secretRef": {"name": "inference-gateway-storage-minio"}}]
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 3 and job["spec"]["ttlSecondsAfterFinished"] > 0
    assert job["spec"]["activeDeadlineSeconds"] >= 10 * (spec.timeout or 300)
    assert job["metadata"]["labels"][JOB_LABEL] == job_id
    assert job["spec"]["template"]["metadata"]["labels"][JOB_LABEL] == job_id
    if spec.enable_gpu:
        assert runner["image"] == "r/m:1-gpu"
        assert runner["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    if spec.platform == "arm64":
        assert runner["image"] == "r/m:1-arm64"
        assert pod["nodeSelector"] == {"kubernetes.io/arch": "arm64"}


# --- (b, c, d) end to end ------------------------------------------------------------------------


@dataclass
class Kubelet:
    """Plays the kubelet and the Job controller for the Jobs of one namespace."""

    api: Any
    namespace: str
    weed: Seaweed
    spec: ServiceSpec
    log_dir: Path
    mode: Mode = "run"
    seen: set[str] = field(default_factory=set)
    exits: dict[str, int] = field(default_factory=dict)

    async def serve(self) -> None:
        batch = client.BatchV1Api(self.api)
        while True:
            if self.mode != "hold":
                listing = await asyncio.to_thread(batch.list_namespaced_job, self.namespace)
                for job in listing.items:
                    if job.metadata.name not in self.seen:
                        self.seen.add(job.metadata.name)
                        await self._play(batch, job)
            await asyncio.sleep(0.1)

    async def _status(self, batch: Any, name: str, status: dict[str, Any]) -> None:
        await asyncio.to_thread(
            batch.patch_namespaced_job_status,
            name,
            self.namespace,
            {"status": status},
            _content_type=MERGE,
        )

    async def _play(self, batch: Any, job: Any) -> None:
        name = job.metadata.name
        if self.mode == "fail":
            failed = {
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
            conditions = [{"type": "FailureTarget", **failed}, {"type": "Failed", **failed}]
            status = {"failed": 3, "startTime": NOW, "conditions": conditions}
            await self._status(batch, name, status)
            return
        await self._status(batch, name, {"active": 1, "ready": 1, "startTime": NOW})
        (container,) = job.spec.template.spec.containers
        env = {e.name: e.value for e in container.env}
        env |= {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "RUNTIME_MODEL_PATH": str(self.spec.model),  # what the image holds
            "RUNTIME_LABELS_PATH": str(self.spec.labels),
        }
        for source in container.env_from or []:  # as the kubelet does: the Secret must exist
            secret = await asyncio.to_thread(
                client.CoreV1Api(self.api).read_namespaced_secret,
                source.secret_ref.name,
                self.namespace,
            )
            env |= {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
        command = [sys.executable, *container.command[1:]]
        with (self.log_dir / f"{name}.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, env=env, stdout=log, stderr=log
            )
            try:
                code = await asyncio.wait_for(proc.wait(), 90)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        self.exits[name] = code
        if code == 0:  # as the Job controller reports success (SuccessCriteriaMet first)
            done = [{"type": t, "status": "True"} for t in ("SuccessCriteriaMet", "Complete")]
            status = {"active": 0, "ready": 0, "succeeded": 1, "completionTime": NOW}
            await self._status(batch, name, {**status, "conditions": done})
        else:
            failed = [
                {"type": t, "status": "True", "reason": "BackoffLimitExceeded"}
                for t in ("FailureTarget", "Failed")
            ]
            await self._status(batch, name, {"active": 0, "failed": 1, "conditions": failed})


def kubeconfig(path: Path, url: str) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kmock", "cluster": {"server": url}}],
        "users": [{"name": "test", "user": {}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "test"}}],
        "current-context": "kmock",
    }
    path.write_text(json.dumps(document))
    return path


@dataclass
class Setup:
    settings: Settings
    spec: ServiceSpec
    storage: dict[str, StorageSpec]
    bucket: str
    kubelet: Kubelet

    def app(self, kube_url: str) -> Starlette:
        backend = KnativeBackend(self.settings, make_api_client(kube_url))
        return create_app(
            self.settings, [self.spec], backends={"knative": backend}, storage=self.storage
        )


@pytest.fixture
def setup(
    kube_url: str, namespace: str, api_client: Any, seaweed: Seaweed, tmp_path: Path
) -> Setup:
    bucket = seaweed.new_bucket()
    settings = kube_settings(
        namespace, data_dir=tmp_path / "data", kubeconfig=kubeconfig(tmp_path / "kube", kube_url)
    )
    spec = knative_spec(
        DIGITS_YAML,
        input=(StorageIO(storage="minio", path=f"{bucket}/in"),),
        output=(StorageIO(storage="minio", path=f"{bucket}/out", suffix=(".json",)),),
    )
    storage = {
        "minio": StorageSpec(
            type="s3",
            endpoint=seaweed.endpoint,
            access_key=seaweed.access_key,
            secret_key=seaweed.secret_key,
        )
    }
    kubelet = Kubelet(api_client, namespace, seaweed, spec, tmp_path)
    return Setup(settings, spec, storage, bucket, kubelet)


@contextlib.asynccontextmanager
async def running(setup: Setup, kube_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway (its Knative Service reported Ready at an address nobody listens on: jobs
    never go through it) and the kubelet."""
    playing = asyncio.create_task(setup.kubelet.serve())
    try:
        async with gateway(setup.app(kube_url)) as http:
            api, namespace = setup.kubelet.api, setup.kubelet.namespace
            await cluster.ksvc_env(api, namespace, setup.spec.name)
            await cluster.knative_ready(api, namespace, setup.spec.name, "http://127.0.0.1:9")
            yield http
    finally:
        playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing


def pngs(count: int) -> list[tuple[str, bytes]]:
    x, _ = digits_holdout()
    return [(f"{i}.png", digit_png(x[i], ink_on_paper=True)) for i in range(count)]


async def submit(
    http: httpx.AsyncClient, files: list[tuple[str, bytes]], service: str = "digits"
) -> str:
    parts = [("file", (name, data, "image/png")) for name, data in files]
    response = await http.post(f"/job/{service}", files=parts)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


async def until(http: httpx.AsyncClient, job_id: str, *statuses: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = (await http.get(f"/jobs/{job_id}")).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.1)


async def test_job_runs_as_one_kubernetes_job(setup: Setup, kube_url: str) -> None:
    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            files = pngs(10)
            files.insert(4, ("corrupt.png", b"\x89PNG but not really"))
            job_id = await submit(http, files)
            job = await until(http, job_id, "succeeded", "failed")
            assert job["counts"] == {"succeeded": 10, "failed": 1}, job
            assert setup.kubelet.seen == {job_name("digits", job_id)}  # one Job for 11 files
            core = client.CoreV1Api(setup.kubelet.api)
            secret = await asyncio.to_thread(
                core.read_namespaced_secret, secret_name("minio"), setup.kubelet.namespace
            )  # made by the gateway from the definition's keys; the pod read it
            keys = {k: base64.b64decode(v).decode() for k, v in secret.data.items()}
            weed = setup.kubelet.weed
            assert keys == {"AWS_ACCESS_KEY_ID": weed.access_key,
                            "AWS_SECRET_ACCESS_KEY": weed.secret_key}  # fmt: skip
            return await check_outputs(setup, job)

    await asyncio.wait_for(scenario(), NO_HANG)


async def check_outputs(setup: Setup, job: dict[str, Any]) -> None:
    items = {item["key"]: item for item in job["items"]}
    bucket = setup.bucket
    corrupt = items[f"{bucket}/in/corrupt.png"]
    assert corrupt["status"] == "failed" and corrupt["error"]["code"] == "invalid_image"
    _, y = digits_holdout()
    s3 = setup.kubelet.weed.client()
    right = 0
    try:
        for i in range(10):
            item = items[f"{bucket}/in/{i}.png"]
            assert item["status"] == "succeeded" and item["attempts"] == 1
            assert item["outputs"] == [f"{bucket}/out/{i}.json"]
            body = s3.get_object(Bucket=bucket, Key=f"out/{i}.json")["Body"].read()
            result = json.loads(body)
            assert result["service"] == "digits" and result["input"] == f"{bucket}/in/{i}.png"
            assert result["model"] == "digits-mlp" and len(result["predictions"]) == 5
            right += result["predictions"][0]["label"] == str(y[i])
    finally:
        s3.close()
    assert right >= 9


async def test_a_failed_job_fails_its_items(setup: Setup, kube_url: str) -> None:
    setup.kubelet.mode = "fail"

    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            job_id = await submit(http, pngs(3))
            job = await until(http, job_id, "succeeded", "failed")
            assert job["counts"] == {"failed": 3}
            for item in job["items"]:
                assert item["error"]["code"] == "kube_job_failed"
                message = item["error"]["message"]
                assert job_name("digits", job_id) in message and "BackoffLimitExceeded" in message

    await asyncio.wait_for(scenario(), NO_HANG)


async def test_cancel_a_queued_job_deletes_its_job(setup: Setup, kube_url: str) -> None:
    setup.kubelet.mode = "hold"  # no node has room: the Job waits, the job stays queued
    batch = client.BatchV1Api(setup.kubelet.api)
    namespace = setup.kubelet.namespace

    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            job_id = await submit(http, pngs(2))
            name = job_name("digits", job_id)
            while await gone(batch.read_namespaced_job, name, namespace):
                await asyncio.sleep(0.05)
            assert (await http.get(f"/jobs/{job_id}")).json()["status"] == "queued"
            response = await http.delete(f"/jobs/{job_id}")
            assert response.status_code == 200 and response.json()["status"] == "cancelled"
            while not await gone(batch.read_namespaced_job, name, namespace):
                await asyncio.sleep(0.05)

    await asyncio.wait_for(scenario(), NO_HANG)


async def test_a_restarted_gateway_resumes_watching(setup: Setup, kube_url: str) -> None:
    setup.kubelet.mode = "hold"
    batch = client.BatchV1Api(setup.kubelet.api)
    namespace = setup.kubelet.namespace

    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            job_id = await submit(http, pngs(3))
            name = job_name("digits", job_id)
            while await gone(batch.read_namespaced_job, name, namespace):
                await asyncio.sleep(0.05)
        setup.kubelet.mode = "run"  # the cluster runs the Job while the gateway is down
        async with running(setup, kube_url) as http:
            job = await until(http, job_id, "succeeded", "failed")
            assert job["counts"] == {"succeeded": 3}, job
            assert setup.kubelet.seen == {name}

    await asyncio.wait_for(scenario(), NO_HANG)


SHOUT = """set -e
grep -q fail "$INPUT_FILE_PATH" && { echo "refusing $STORAGE_OBJECT_KEY"; exit 3; }
tr a-z A-Z < "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH" .txt).out"
echo done
"""


async def test_a_script_service_runs_its_script_in_the_job(setup: Setup, kube_url: str) -> None:
    setup.spec = ServiceSpec(
        name="shout",
        runtime="script",
        script=SHOUT,
        backend="knative",
        image="r/shout:1",
        visibility="public",
        input=(StorageIO(storage="minio", path=f"{setup.bucket}/words"),),
        output=(StorageIO(storage="minio", path=f"{setup.bucket}/loud"),),
    )

    async def scenario() -> None:
        async with running(setup, kube_url) as http:
            files = [("a.txt", b"hello"), ("b.txt", b"please fail"), ("c.txt", b"bye")]
            job_id = await submit(http, files, "shout")
            job = await until(http, job_id, "succeeded", "failed")
        assert job["counts"] == {"succeeded": 2, "failed": 1}, job
        items = {item["key"].rsplit("/", 1)[1]: item for item in job["items"]}
        assert items["b.txt"]["error"]["code"] == "script_failed"
        assert "refusing" in items["b.txt"]["log"]
        assert items["a.txt"]["outputs"] == [f"{setup.bucket}/loud/a.out"]
        assert "done" in items["a.txt"]["log"]
        s3 = setup.kubelet.weed.client()
        try:
            body = s3.get_object(Bucket=setup.bucket, Key="loud/c.out")["Body"].read()
        finally:
            s3.close()
        assert body == b"BYE"

    await asyncio.wait_for(scenario(), NO_HANG)
