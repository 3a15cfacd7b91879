"""The cluster's part, played by the tests through the Kubernetes API.

Start the runtime a pod would run (the real ONNX runtime on loopback, configured by the container's
env, whose ``valueFrom.secretKeyRef`` entries are read from their Secrets as a kubelet reads them)
and report it ready the way Knative (status.url, Ready) or the kubelet and the EndpointSlice
controller (availableReplicas, an EndpointSlice) would.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubernetes import client

from gateway.services import ServiceSpec
from tests.backends.conftest import wait_for
from tests.support import free_port, python_command, server_process

KSVC = ("serving.knative.dev", "v1")
MERGE = "application/merge-patch+json"


@contextlib.asynccontextmanager
async def runtime(
    spec: ServiceSpec, env: list[dict[str, str]], log_path: Path, *, port: int | None = None
) -> AsyncIterator[str]:
    """The real runtime with the container's env plus the model paths a pod's image would hold."""
    port = port or free_port()
    variables = {e["name"]: e["value"] for e in env}
    variables |= {
        "RUNTIME_MODEL_PATH": str(spec.model),
        "RUNTIME_LABELS_PATH": str(spec.labels),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": str(port),
    }
    command = python_command("-m", "runtimes.onnx")
    with contextlib.ExitStack() as stack:
        process = server_process(command, port=port, log_path=log_path, env=variables)
        server = await asyncio.to_thread(stack.enter_context, process)
        try:
            yield server.url
        finally:
            await asyncio.to_thread(stack.close)


async def resolve_env(api: Any, namespace: str, env: list[dict[str, Any]]) -> list[dict[str, str]]:
    """A container's env as its process sees it: each ``secretKeyRef`` read from its Secret (a
    missing Secret or key fails, as it keeps a kubelet from starting the container)."""
    core = client.CoreV1Api(api)
    resolved = []
    for item in env:
        if "value" in item:
            resolved.append({"name": item["name"], "value": item["value"]})
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        secret = await asyncio.to_thread(core.read_namespaced_secret, ref["name"], namespace)
        if secret.data and ref["key"] in secret.data:  # a real API server: base64 ``data``
            value = base64.b64decode(secret.data[ref["key"]]).decode()
        else:  # kmock keeps ``stringData`` as it was written
            value = (secret.string_data or {})[ref["key"]]
        resolved.append({"name": item["name"], "value": value})
    return resolved


async def ksvc_env(api: Any, namespace: str, name: str) -> list[dict[str, str]]:
    custom = client.CustomObjectsApi(api)
    ksvc = await wait_for(custom.get_namespaced_custom_object, *KSVC, namespace, "services", name)
    env: list[dict[str, Any]] = ksvc["spec"]["template"]["spec"]["containers"][0]["env"]
    return await resolve_env(api, namespace, env)


async def knative_ready(
    api: Any, namespace: str, name: str, url: str, *, ready: str = "True", message: str = ""
) -> None:
    """What Knative's controllers report once the revision is ready (or failed: ``ready="False"``
    with a `message`), for the generation they observed (the current one)."""
    custom = client.CustomObjectsApi(api)
    live = await wait_for(custom.get_namespaced_custom_object, *KSVC, namespace, "services", name)
    condition = {"type": "Ready", "status": ready, **({"message": message} if message else {})}
    status = {
        "observedGeneration": live["metadata"].get("generation", 1),
        "url": url,
        "address": {"url": url},
        "conditions": [
            {"type": "ConfigurationsReady", "status": ready},
            {"type": "RoutesReady", "status": "True"},
            condition,
        ],
    }
    await asyncio.to_thread(
        custom.patch_namespaced_custom_object_status,
        *KSVC,
        namespace,
        "services",
        name,
        {"status": status},
    )


async def deployment_env(api: Any, namespace: str, name: str) -> list[dict[str, str]]:
    apps = client.AppsV1Api(api)
    deployment = await wait_for(apps.read_namespaced_deployment, name, namespace)
    env = api.sanitize_for_serialization(deployment.spec.template.spec.containers[0].env)
    return await resolve_env(api, namespace, env)


async def pods_ready(api: Any, namespace: str, name: str, url: str) -> None:
    """What the kubelet and the EndpointSlice controller report for one ready pod at `url`."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    apps, discovery = client.AppsV1Api(api), client.DiscoveryV1Api(api)
    live = await asyncio.to_thread(apps.read_namespaced_deployment, name, namespace)
    status = {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    await asyncio.to_thread(
        apps.patch_namespaced_deployment_status,
        name,
        namespace,
        {"status": {**status, "observedGeneration": live.metadata.generation}},
        _content_type=MERGE,
    )
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-abcde",
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": name,
                "app.kubernetes.io/managed-by": "inference-gateway",
                "inference-gateway/service": name,
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": int(port), "protocol": "TCP"}],
        "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
    }
    await asyncio.to_thread(discovery.create_namespaced_endpoint_slice, namespace, endpoint_slice)
