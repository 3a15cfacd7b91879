"""What a real kube-apiserver showed and kmock let through, one test per finding: the emulator now
refuses what the API server refuses, and the backends meet each rule (a missing namespace or verb
is a clear error at start, state follows the watch after an update and a 410 Gone, `rm` deletes
the service's Jobs)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client

from gateway.backends.deployment import DeploymentBackend
from gateway.backends.knative import KnativeBackend
from gateway.config import Settings
from gateway.errors import InvalidDefinition, Unavailable
from gateway.kube.objects import deployment_objects, labels
from gateway.services import ServiceSpec
from tests.backends import cluster
from tests.backends.conftest import gone, kube_settings, make_api_client, wait_for
from tests.backends.test_faults import SPEC
from tests.backends.truthful import TruthfulEmulator

NO_HANG = 60
NOW = "2026-11-30T12:00:00Z"


def job(name: str, service: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    container = {"name": "batch", "image": "r/m:1", "command": ["true"]}
    template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels(service)},
        "spec": {"template": template},
        **({"status": status} if status else {}),
    }


async def refused(fn: Any, *args: Any, **kwargs: Any) -> client.ApiException:
    with pytest.raises(client.ApiException) as caught:
        await asyncio.to_thread(fn, *args, **kwargs)
    return caught.value


# --- the emulator tells the truth ------------------------------------------------------------


async def test_creating_in_a_namespace_that_does_not_exist_is_404(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    deployment = deployment_objects(SPEC, Settings(kube_namespace="nope"))[0]
    error = await refused(apps.create_namespaced_deployment, "nope", deployment)
    assert error.status == 404 and 'namespaces \\"nope\\" not found' in error.body


async def test_a_quantity_with_suffix_K_is_refused(api_client: Any, namespace: str) -> None:
    apps = client.AppsV1Api(api_client)
    deployment = deployment_objects(SPEC, Settings(kube_namespace=namespace))[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] = (
        "512K"
    )
    error = await refused(apps.create_namespaced_deployment, namespace, deployment)
    assert error.status == 400 and "unable to parse quantity's suffix" in error.body


async def test_create_answers_201_and_spec_changes_bump_the_generation(
    api_client: Any, namespace: str
) -> None:
    apps = client.AppsV1Api(api_client)
    deployment = deployment_objects(SPEC, Settings(kube_namespace=namespace))[0]
    created = apps.create_namespaced_deployment_with_http_info
    _, code, _ = await asyncio.to_thread(created, namespace, deployment)
    assert code == 201

    async def generation() -> int:
        live = await asyncio.to_thread(apps.read_namespaced_deployment, "m", namespace)
        return int(live.metadata.generation)

    assert await generation() == 1
    patch = apps.patch_namespaced_deployment
    await asyncio.to_thread(patch, "m", namespace, {"spec": {"replicas": 3}})
    assert await generation() == 2
    await asyncio.to_thread(patch, "m", namespace, {"spec": {"replicas": 3}})  # no change
    status = {"status": {"observedGeneration": 2, "availableReplicas": 1}}
    await asyncio.to_thread(apps.patch_namespaced_deployment_status, "m", namespace, status)
    assert await generation() == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"conditions": [{"type": "Complete", "status": "True"}]}, "SuccessCriteriaMet"),
        ({"startTime": NOW, "conditions": [{"type": "Failed", "status": "True"}]}, "FailureTarget"),
        (
            {"conditions": [{"type": t, "status": "True"} for t in ("FailureTarget", "Failed")]},
            "startTime is required",
        ),
        (
            {
                "startTime": NOW,
                "conditions": [
                    {"type": t, "status": "True"} for t in ("SuccessCriteriaMet", "Complete")
                ],
            },
            "completionTime is required",
        ),
    ],
    ids=["complete-first", "failed-first", "no-start", "no-completion"],
)
async def test_job_status_rules(
    api_client: Any, namespace: str, status: dict[str, Any], message: str
) -> None:
    batch = client.BatchV1Api(api_client)
    await asyncio.to_thread(batch.create_namespaced_job, namespace, job("j", "m"))
    patch = batch.patch_namespaced_job_status
    error = await refused(patch, "j", namespace, {"status": status})
    assert error.status == 422 and message in error.body


# --- the backends meet the rules -------------------------------------------------------------


@pytest.mark.parametrize("backend_class", [KnativeBackend, DeploymentBackend])
async def test_a_missing_namespace_is_a_clear_error_before_any_write(
    kube_url: str, emulator: TruthfulEmulator, backend_class: Any
) -> None:
    before = len(emulator.objects)
    backend = backend_class(kube_settings("nope"), make_api_client(kube_url))
    try:
        with pytest.raises(Unavailable, match=r"namespace 'nope' does not exist"):
            await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    finally:
        await backend.aclose()
    assert len(emulator.objects) == before


async def test_a_verb_the_account_lacks_is_named_before_any_write(
    kube_url: str, namespace: str, emulator: TruthfulEmulator, api_client: Any
) -> None:
    emulator.denied |= {("apps", "deployments/finalizers", "update"), ("", "pods/log", "get")}
    backend = DeploymentBackend(kube_settings(namespace), make_api_client(kube_url))
    try:
        with pytest.raises(Unavailable) as caught:
            await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
    finally:
        await backend.aclose()
    assert "may not get core/pods/log, update apps/deployments/finalizers" in caught.value.message
    apps = client.AppsV1Api(api_client)
    assert await gone(apps.read_namespaced_deployment, "m", namespace)


async def test_a_quantity_that_slipped_through_is_a_422_not_a_500(
    kube_url: str, namespace: str
) -> None:
    spec = ServiceSpec.model_construct(**{**dict(SPEC), "memory": "512K"})  # skips validation
    backend = KnativeBackend(kube_settings(namespace), make_api_client(kube_url))
    try:
        with pytest.raises(InvalidDefinition, match="unable to parse quantity"):
            await asyncio.wait_for(backend.deploy(spec), NO_HANG)
    finally:
        await backend.aclose()


async def test_state_follows_the_cluster_after_an_update_without_a_reconcile(
    kube_url: str, namespace: str, api_client: Any
) -> None:
    """After a spec change Knative reports the new generation Ready within a second; the state
    used to stay `starting` until the next periodic re-apply (here: never, once an hour)."""
    backend = KnativeBackend(kube_settings(namespace), make_api_client(kube_url))
    try:
        await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
        assert backend.status("m").state == "starting"
        await cluster.knative_ready(api_client, namespace, "m", "http://127.0.0.1:9")
        assert (await backend.wait_ready("m", NO_HANG)).state == "ready"

        await backend.deploy(SPEC.model_copy(update={"max_scale": 7}))  # generation 2
        state = backend.status("m")
        assert state.state == "starting" and "generation 2 not observed" in state.detail
        await cluster.knative_ready(api_client, namespace, "m", "http://127.0.0.1:9")
        assert (await backend.wait_ready("m", NO_HANG)).state == "ready"
        assert backend.endpoint("m").base_url == "http://127.0.0.1:9"
    finally:
        await backend.aclose()


async def test_the_watch_lists_again_after_410_gone_and_goes_on(
    kube_url: str, namespace: str, api_client: Any, emulator: TruthfulEmulator
) -> None:
    # watches of 1 s, so that the next one soon asks from the old version; every other request
    # keeps the default timeout (10 s), as a loaded machine needs
    settings = kube_settings(namespace, kube_watch_seconds=1)
    backend = KnativeBackend(settings, make_api_client(kube_url))
    informer = backend._informer
    core = client.CoreV1Api(api_client)

    async def listed(times: int) -> None:
        while informer.lists < times:
            await asyncio.sleep(0.05)

    try:
        await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
        await asyncio.wait_for(listed(1), NO_HANG)
        other = {"metadata": {"name": "unrelated"}, "data": {"a": "b"}}  # a later version...
        await asyncio.to_thread(core.create_namespaced_config_map, namespace, other)
        emulator.compact()  # ...and the history before it compacted away
        await asyncio.wait_for(listed(2), NO_HANG)  # the next watch got 410: listed again
        await cluster.knative_ready(api_client, namespace, "m", "http://127.0.0.1:9")
        assert (await backend.wait_ready("m", NO_HANG)).state == "ready"
    finally:
        await backend.aclose()


@pytest.mark.parametrize("backend_class", [KnativeBackend, DeploymentBackend])
async def test_rm_deletes_the_services_jobs_finished_ones_included(
    kube_url: str, namespace: str, api_client: Any, backend_class: Any
) -> None:
    batch = client.BatchV1Api(api_client)
    done = [{"type": t, "status": "True"} for t in ("SuccessCriteriaMet", "Complete")]
    finished = {"startTime": NOW, "completionTime": NOW, "succeeded": 1, "conditions": done}
    for name, service in (("m-job-1", "m"), ("m-job-2", "m"), ("other-job-1", "other")):
        await asyncio.to_thread(batch.create_namespaced_job, namespace, job(name, service))
    status = {"status": finished}
    await asyncio.to_thread(batch.patch_namespaced_job_status, "m-job-1", namespace, status)
    backend = backend_class(kube_settings(namespace), make_api_client(kube_url))
    try:
        await asyncio.wait_for(backend.deploy(SPEC), NO_HANG)
        await asyncio.wait_for(backend.remove("m"), NO_HANG)
    finally:
        await backend.aclose()
    assert await gone(batch.read_namespaced_job, "m-job-1", namespace)
    assert await gone(batch.read_namespaced_job, "m-job-2", namespace)
    assert await wait_for(batch.read_namespaced_job, "other-job-1", namespace)
