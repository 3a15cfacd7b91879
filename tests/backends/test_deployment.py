"""DeploymentBackend end to end against the kmock API emulator: Deployment + Service + HPA are
created, the test plays the kubelet and the EndpointSlice controller, the gateway balances real
requests over the ready endpoints; update; delete leaves nothing of ours in the API."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kubernetes import client

from gateway.app import create_app
from gateway.backends.deployment import DeploymentBackend, ready_urls
from gateway.errors import Unavailable
from tests.backends import cluster
from tests.backends.conftest import gone, kube_settings, make_api_client
from tests.backends.test_knative import NO_HANG, gateway, knative_spec, until_ready
from tests.support import DIGITS_YAML, digit_png, digits_holdout


async def test_deployment_end_to_end(
    kube_url: str, namespace: str, api_client: Any, tmp_path: Path
) -> None:
    settings = kube_settings(namespace)
    spec = knative_spec(DIGITS_YAML, backend="deployment", min_scale=0, max_scale=3)
    backend = DeploymentBackend(settings, make_api_client(kube_url), route="endpoints")
    app = create_app(settings, [spec], backends={"deployment": backend})
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    autoscaling = client.AutoscalingV2Api(api_client)

    async def scenario() -> None:
        async with gateway(app) as http:
            env = await cluster.deployment_env(api_client, namespace, "digits")
            async with cluster.runtime(spec, env, tmp_path / "digits.log") as url:
                await cluster.pods_ready(api_client, namespace, "digits", url)
                await until_ready(http)
                assert await endpoint_url(backend, "digits") == url
                x, y = digits_holdout()
                image = digit_png(x[0], ink_on_paper=True)
                response = await http.post(
                    "/predict/digits", content=image, headers={"Content-Type": "image/png"}
                )
                assert response.status_code == 200, response.text
                labels = [p["label"] for p in response.json()["predictions"][:3]]
                assert str(y[0]) in labels

                deployment = await asyncio.to_thread(
                    apps.read_namespaced_deployment, "digits", namespace
                )
                assert deployment.spec.replicas == 1  # pre-warmed although min_scale is 0
                service = await asyncio.to_thread(core.read_namespaced_service, "digits", namespace)
                assert service.spec.ports[0].port == 80
                await app.state.registry.apply(spec.model_copy(update={"max_scale": 6}))
                hpa = await asyncio.to_thread(
                    autoscaling.read_namespaced_horizontal_pod_autoscaler, "digits", namespace
                )
                assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 6)

                await app.state.registry.remove("digits")
                for read in (
                    apps.read_namespaced_deployment,
                    core.read_namespaced_service,
                    autoscaling.read_namespaced_horizontal_pod_autoscaler,
                ):
                    assert await gone(read, "digits", namespace)

    await asyncio.wait_for(scenario(), NO_HANG)


async def endpoint_url(backend: DeploymentBackend, name: str) -> str:
    """The routed URL once the backend has seen a ready endpoint (it refreshes them by polling)."""
    for _ in range(400):
        try:
            return backend.endpoint(name).base_url
        except Unavailable:
            await asyncio.sleep(0.05)
    raise AssertionError(f"no ready endpoint for {name}")


def test_ready_urls_round_robin_over_ready_endpoints_of_the_service() -> None:
    slices = [
        {
            "metadata": {"labels": {"kubernetes.io/service-name": "a"}},
            "ports": [{"port": 8080}],
            "endpoints": [
                {"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
                {"addresses": ["fd00::1"]},
            ],
        },
        {"metadata": {"labels": {"kubernetes.io/service-name": "b"}}, "ports": [{"port": 1}]},
    ]
    assert ready_urls(slices, "a") == ["http://10.0.0.2:8080", "http://[fd00::1]:8080"]
    assert ready_urls(slices, "c") == []
