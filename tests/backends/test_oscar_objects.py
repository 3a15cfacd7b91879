"""What an OSCAR definition asks of Kubernetes reaches the objects the backends write: its labels
and annotations, pull secrets, ephemeral storage, its secrets (in a Secret, through envFrom),
and ``expose`` (a Deployment on the service's own port). Every object validates against the
official schemas; the Secret is written and deleted with the service in the API emulator."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

from kubernetes import client

from gateway.backends.deployment import DeploymentBackend
from gateway.config import Settings
from gateway.kube.objects import (
    SERVICE_LABEL,
    batch_job,
    deployment_objects,
    knative_service,
    service_secret,
)
from gateway.services import ServiceSpec, load_file
from tests.backends.conftest import gone, kube_settings, make_api_client, wait_for
from tests.backends.test_knative import NO_HANG
from tests.backends.test_objects import validate_k8s, validate_ksvc

FDL = Path(__file__).resolve().parents[1] / "oscar_fdl" / "all_fields.yaml"
SETTINGS = Settings(kube_namespace="ns")


def _service(name: str, **update: Any) -> ServiceSpec:
    spec = {s.name: s for s in load_file(FDL).services}[name]
    return spec.model_copy(update=update)


def _plants(backend: str = "deployment") -> ServiceSpec:
    return _service("plants", backend=backend)


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def test_labels_and_annotations_are_on_every_object_and_ours_win() -> None:
    spec = _plants().model_copy(update={"kube_labels": {"team": "plants", SERVICE_LABEL: "x"}})
    objects = [*deployment_objects(spec, SETTINGS), knative_service(spec, SETTINGS)]
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["team"] == "plants" and labels[SERVICE_LABEL] == "plants"
        assert obj["metadata"]["annotations"] == {"example.org/owner": "plants-team"}
    deployment, _, _ = deployment_objects(spec, SETTINGS)
    template = deployment["spec"]["template"]["metadata"]
    assert template["labels"]["team"] == "plants"
    assert template["annotations"] == {"example.org/owner": "plants-team"}
    ksvc = knative_service(spec, SETTINGS)["spec"]["template"]["metadata"]["annotations"]
    assert ksvc["example.org/owner"] == "plants-team"
    assert ksvc["autoscaling.knative.dev/max-scale"] == "3"


def test_objects_with_every_mapped_field_validate() -> None:
    spec = _plants()
    for obj in deployment_objects(spec, SETTINGS):
        validate_k8s(obj)
    validate_ksvc(knative_service(spec.model_copy(update={"backend": "knative"}), SETTINGS))
    job = batch_job(
        spec, SETTINGS, name="plants-job", job_id="j1", items=1, env={}, secret="storage"
    )
    validate_k8s(job)
    validate_k8s(service_secret(spec, SETTINGS))
    env_from = _pod(job)["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "plants-secrets"}} in env_from
    assert {"secretRef": {"name": "storage"}} in env_from


def test_pod_takes_pull_secrets_ephemeral_storage_and_secrets_by_reference() -> None:
    deployment, _, _ = deployment_objects(_plants(), SETTINGS)
    pod = _pod(deployment)
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    (runtime,) = pod["containers"]
    assert runtime["resources"]["requests"]["ephemeral-storage"] == "2Gi"
    assert runtime["envFrom"] == [{"secretRef": {"name": "plants-secrets"}}]
    env = {item["name"]: item.get("value") for item in runtime["env"]}
    assert env["THRESHOLD"] == "0.4" and env["RUNTIME_LOG_LEVEL"] == "critical"
    assert "plants-secret-value" not in str(deployment)  # only the Secret holds the value
    secret = service_secret(_plants(), SETTINGS)
    assert secret["stringData"] == {"API_KEY": "plants-secret-value"}


def test_exposed_service_is_a_deployment_on_its_own_port() -> None:
    spec = _service("plants-api")
    deployment, service, hpa = deployment_objects(spec, SETTINGS)
    for obj in (deployment, service, hpa):
        validate_k8s(obj)
    (container,) = _pod(deployment)["containers"]
    assert container["image"] == "ghcr.io/example/plants-api:1.0"
    assert container["ports"][0]["containerPort"] == 5000
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": 5000}
    assert (
        container["command"][:2] == ["/bin/sh", "-c"] and "http.server" in container["command"][2]
    )
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["OSCAR_SERVICE_BASE_PATH"] == "/system/services/plants-api/exposed"
    assert deployment["spec"]["replicas"] == 2
    assert service["spec"]["ports"][0]["targetPort"] == 5000
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70


def test_exposed_service_with_default_command_runs_the_images_entrypoint() -> None:
    spec = _service("plants-api")
    assert spec.expose is not None
    own = spec.model_copy(
        update={"expose": spec.expose.model_copy(update={"default_command": True})}
    )
    (container,) = _pod(deployment_objects(own, SETTINGS)[0])["containers"]
    assert "command" not in container


async def test_the_secret_is_written_replaced_and_deleted_with_the_service(
    kube_url: str, namespace: str, api_client: Any
) -> None:
    settings = kube_settings(namespace)
    backend = DeploymentBackend(settings, make_api_client(kube_url))
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    spec = _plants()

    async def scenario() -> None:
        deploying = asyncio.create_task(backend.deploy(spec))
        secret = await wait_for(core.read_namespaced_secret, "plants-secrets", namespace)
        values = secret.data or {
            k: base64.b64encode(v.encode()).decode() for k, v in secret.string_data.items()
        }
        assert base64.b64decode(values["API_KEY"]) == b"plants-secret-value"
        assert secret.metadata.labels["team"] == "plants"
        await wait_for(apps.read_namespaced_deployment, "plants", namespace)
        await asyncio.to_thread(
            apps.patch_namespaced_deployment_status,
            "plants",
            namespace,
            {"status": {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}},
            _content_type="application/merge-patch+json",
        )
        await deploying
        await backend.deploy(spec.model_copy(update={"secrets": {}}))  # an update drops them
        assert await gone(core.read_namespaced_secret, "plants-secrets", namespace)
        await backend.deploy(spec)
        await wait_for(core.read_namespaced_secret, "plants-secrets", namespace)
        await backend.remove("plants")
        assert await gone(core.read_namespaced_secret, "plants-secrets", namespace)

    try:
        await asyncio.wait_for(scenario(), NO_HANG)
    finally:
        await backend.aclose()
