"""KnativeBackend end to end against the kmock API emulator: the gateway creates the Knative
Service, the test plays Knative (the real runtime on loopback, status patched Ready), real images
are classified through the gateway; update, delete; a scaled-to-zero service is a cold start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from kubernetes import client
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.backends.knative import KnativeBackend
from gateway.services import ServiceSpec, load_file
from tests.backends import cluster
from tests.backends.conftest import gone, kube_settings, make_api_client, wait_for
from tests.support import DIGITS_YAML, IMAGENET_YAML, free_port, sample_jpeg, top_labels

NO_HANG = 180  # seconds: every step is bounded; this only turns a bug into a failure


def knative_spec(path: Path, **fields: Any) -> ServiceSpec:
    spec = load_file(path).services[0]
    return spec.model_copy(update={"backend": "knative", "visibility": "public", **fields})


@contextlib.asynccontextmanager
async def gateway(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as http:
            yield http


async def until_ready(http: httpx.AsyncClient) -> None:
    for _ in range(1200):
        if (await http.get("/v2/health/ready")).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway never became ready")


async def test_knative_service_end_to_end(
    kube_url: str, namespace: str, api_client: Any, tmp_path: Path
) -> None:
    settings = kube_settings(namespace)
    spec = knative_spec(IMAGENET_YAML)
    backend = KnativeBackend(settings, make_api_client(kube_url))
    app = create_app(settings, [spec], backends={"knative": backend})
    custom = client.CustomObjectsApi(api_client)
    ksvc_path = ("serving.knative.dev", "v1", namespace, "services", "imagenet")

    async def scenario() -> None:
        async with gateway(app) as http:
            env = await cluster.ksvc_env(api_client, namespace, "imagenet")
            async with cluster.runtime(spec, env, tmp_path / "imagenet.log") as url:
                await cluster.knative_ready(api_client, namespace, "imagenet", url)
                await until_ready(http)
                response = await http.post(
                    "/predict/imagenet",
                    content=sample_jpeg("flower.jpg"),
                    headers={"Content-Type": "image/jpeg"},
                )
                assert response.status_code == 200, response.text
                assert "daisy" in top_labels(response.json())
                assert backend.status("imagenet").state == "ready"

                await app.state.registry.apply(spec.model_copy(update={"max_scale": 7}))
                ksvc = await asyncio.to_thread(custom.get_namespaced_custom_object, *ksvc_path)
                annotations = ksvc["spec"]["template"]["metadata"]["annotations"]
                assert annotations["autoscaling.knative.dev/max-scale"] == "7"

                await app.state.registry.remove("imagenet")
                assert await gone(custom.get_namespaced_custom_object, *ksvc_path)
                listing = await asyncio.to_thread(
                    custom.list_namespaced_custom_object, *ksvc_path[:-1]
                )
                assert listing["items"] == []

    await asyncio.wait_for(scenario(), NO_HANG)


async def test_scaled_to_zero_service_is_a_cold_start_within_the_budget(
    kube_url: str, namespace: str, api_client: Any, tmp_path: Path
) -> None:
    settings = kube_settings(namespace, cold_start_budget=60.0)
    spec = knative_spec(DIGITS_YAML)
    backend = KnativeBackend(settings, make_api_client(kube_url))
    metrics = CollectorRegistry()
    app = create_app(settings, [spec], backends={"knative": backend}, metrics_registry=metrics)
    port = free_port()  # Ready, but nothing listens there yet: scaled to zero

    async def scenario() -> None:
        async with gateway(app) as http:
            env = await cluster.ksvc_env(api_client, namespace, "digits")
            await cluster.knative_ready(api_client, namespace, "digits", f"http://127.0.0.1:{port}")
            await until_ready(http)

            async def scale_from_zero() -> None:
                await asyncio.sleep(1.5)
                async with cluster.runtime(spec, env, tmp_path / "digits.log", port=port):
                    await asyncio.sleep(30)

            pod = asyncio.create_task(scale_from_zero())
            try:
                response = await http.post(
                    "/predict/digits",
                    content=sample_jpeg("flower.jpg"),
                    headers={"Content-Type": "image/jpeg"},
                )
            finally:
                pod.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pod
            assert response.status_code == 200, response.text
            assert response.json()["predictions"]

    await asyncio.wait_for(scenario(), NO_HANG)
    labels = {"service": "digits", "backend": "knative"}
    assert metrics.get_sample_value("gateway_cold_starts_total", labels) == 1
    waited = metrics.get_sample_value("gateway_cold_start_duration_seconds_sum", labels)
    assert waited is not None and 1.0 < waited < 60.0


async def test_drift_is_repaired_by_the_periodic_reconcile(
    kube_url: str, namespace: str, api_client: Any
) -> None:
    settings = kube_settings(namespace, reconcile_interval=0.3)
    spec = knative_spec(DIGITS_YAML)
    backend = KnativeBackend(settings, make_api_client(kube_url))
    custom = client.CustomObjectsApi(api_client)
    path = ("serving.knative.dev", "v1", namespace, "services", "digits")

    async def scenario() -> None:
        deploying = asyncio.create_task(backend.deploy(spec))
        await wait_for(custom.get_namespaced_custom_object, *path)
        await cluster.knative_ready(api_client, namespace, "digits", "http://127.0.0.1:9")
        await deploying
        await asyncio.to_thread(custom.delete_namespaced_custom_object, *path)  # behind our back
        recreated = await wait_for(custom.get_namespaced_custom_object, *path)
        assert recreated["metadata"]["labels"]["inference-gateway/service"] == "digits"
        annotations = {"autoscaling.knative.dev/max-scale": "99"}
        edit = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
        await asyncio.to_thread(custom.patch_namespaced_custom_object, *path, edit)
        for _ in range(200):
            obj = await asyncio.to_thread(custom.get_namespaced_custom_object, *path)
            max_scale = obj["spec"]["template"]["metadata"]["annotations"]
            if max_scale["autoscaling.knative.dev/max-scale"] == str(spec.max_scale):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the edited max-scale was not restored")

    try:
        await asyncio.wait_for(scenario(), NO_HANG)
    finally:
        await backend.remove("digits")
        await backend.aclose()
