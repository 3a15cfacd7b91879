"""DeploymentBackend: each service is a pre-warmed Deployment with a ClusterIP Service and an HPA.

`deploy` applies the three objects and returns: the service is ``starting`` until the Deployment
has its replicas available. One watch on the namespace's Deployments (`Informer`) keeps their
status current; `wait_ready` waits (bounded) for available replicas or a failure (the progress
deadline exceeded, or a ReplicaFailure); `remove` deletes the service's batch Jobs too.
The Deployment keeps at least one replica (the model stays in memory); the HorizontalPodAutoscaler
scales it between max(1, min_scale) and max_scale on CPU. The Service and the HPA are owned by the
Deployment, so the cluster's garbage collector removes them with it; `remove` also deletes them
itself. Requests go to the Service's cluster DNS name, or (``route="endpoints"``) round-robin over
the ready addresses of its EndpointSlices, balanced by the gateway itself.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any, Literal

from gateway.backends.base import Endpoint, ServiceState
from gateway.backends.reconcile import Periodic
from gateway.config import Settings
from gateway.errors import ServiceNotFound, Unavailable
from gateway.kube.access import DEPLOYMENT, JOBS, AccessCheck
from gateway.kube.client import KubeApi, Obj
from gateway.kube.informer import Informer
from gateway.kube.objects import (
    GRPC_PORT,
    MANAGED_BY,
    MANAGER,
    deployment_objects,
    min_replicas,
    owned_by,
    selector,
)
from gateway.kube.secrets import RuntimeTokens, apply_secret, delete_secret
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.deployment")

MERGE_PATCH = "application/merge-patch+json"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
Route = Literal["service", "endpoints"]


def ready_urls(slices: list[Obj], service: str) -> list[str]:
    """``http://address:port`` of every ready endpoint in the EndpointSlices of `service`."""
    urls: list[str] = []
    for item in slices:
        if (item.get("metadata", {}).get("labels") or {}).get(SERVICE_NAME_LABEL) != service:
            continue
        ports = [
            p.get("port")
            for p in item.get("ports") or []
            if p.get("port") and p.get("name") in (None, "", "http")
        ]
        for endpoint in item.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in endpoint.get("addresses") or []:
                host = f"[{address}]" if ":" in address else address
                urls.extend(f"http://{host}:{port}" for port in ports[:1])
    return sorted(urls)


class DeploymentBackend:
    """Runs services as Deployments (+ Service + HPA) through the Kubernetes API."""

    name = "deployment"

    def __init__(
        self,
        settings: Settings,
        api_client: Any | None = None,
        *,
        route: Route = "service",
        endpoints_refresh: float = 2.0,
    ) -> None:
        self._settings = settings
        self._tokens = RuntimeTokens.from_settings(settings)
        self._kube = KubeApi(settings, api_client)
        self._route = route
        self._specs: dict[str, ServiceSpec] = {}
        self._access = AccessCheck(self._kube, (*DEPLOYMENT, *JOBS))
        self._informer = Informer(
            self._kube,
            f"Deployments in {settings.kube_namespace}",
            lambda: functools.partial(
                self._kube.apps().list_namespaced_deployment, settings.kube_namespace
            ),
            label_selector=f"{MANAGED_BY}={MANAGER}",
        )
        self._urls: dict[str, list[str]] = {}
        self._turns: dict[str, Iterator[int]] = {}
        self._reconciler = Periodic(
            "deployment-reconcile", settings.reconcile_interval, self.reconcile
        )
        self._refresher = Periodic("endpoints-refresh", endpoints_refresh, self.refresh_endpoints)

    def _where(self, kind: str, name: str) -> str:
        return f"{kind} {self._settings.kube_namespace}/{name}"

    async def _apply(
        self, kind: str, create: Callable[..., Any], patch: Callable[..., Any], body: Obj, **kw: Any
    ) -> Obj:
        namespace, name = self._settings.kube_namespace, body["metadata"]["name"]
        return await self._kube.create_or_patch(
            self._where(kind, name),
            functools.partial(create, namespace),
            functools.partial(patch, name, namespace, _content_type=MERGE_PATCH),
            body,
            **kw,
        )

    async def _apply_all(self, spec: ServiceSpec, *, create_first: bool = True) -> Obj:
        deployment, service, hpa = deployment_objects(spec, self._settings)
        apps, core, autoscaling = self._kube.apps(), self._kube.core(), self._kube.autoscaling()
        if not create_first:  # a patch leaves the replica count to the HPA...
            del deployment["spec"]["replicas"]
        live = await self._apply(
            "Deployment",
            apps.create_namespaced_deployment,
            apps.patch_namespaced_deployment,
            deployment,
            create_first=create_first,
        )
        floor = min_replicas(spec)
        if (live.get("spec") or {}).get("replicas", floor) < floor:  # ...unless scaled below min
            live = await self._kube.call(
                f"scale {self._where('Deployment', spec.name)}",
                apps.patch_namespaced_deployment,
                spec.name,
                self._settings.kube_namespace,
                {"spec": {"replicas": floor}},
                _content_type=MERGE_PATCH,
            )
        await self._apply(
            "Service",
            core.create_namespaced_service,
            core.patch_namespaced_service,
            owned_by(service, live),
            create_first=create_first,
        )
        await self._apply(
            "HorizontalPodAutoscaler",
            autoscaling.create_namespaced_horizontal_pod_autoscaler,
            autoscaling.patch_namespaced_horizontal_pod_autoscaler,
            owned_by(hpa, live),
            create_first=create_first,
        )
        self._informer.record(live)
        return live

    async def deploy(self, spec: ServiceSpec) -> None:
        """Create or patch the three objects; ``starting`` until replicas are available."""
        deployment_objects(spec, self._settings)  # an invalid placement fails before any API call
        await self._access.ensure()
        self._informer.start()
        previous = self._specs.get(spec.name)
        await apply_secret(self._kube, spec, self._settings, previous)
        await self._tokens.apply(self._kube, spec, self._settings)
        await self._apply_all(spec)
        self._specs[spec.name] = spec
        self._reconciler.ensure_started()
        if self._route == "endpoints":
            self._refresher.ensure_started()
            await self.refresh_endpoints()

    async def wait_ready(self, name: str, timeout: float) -> ServiceState:
        """The service's state once replicas are available or it failed, or after `timeout`."""
        spec = self._known_spec(name)
        want = min_replicas(spec)
        await self._informer.wait(
            name, lambda o: available(o) >= want or failure(o) is not None, timeout
        )
        if self._route == "endpoints":
            await self.refresh_endpoints()
        return self.status(name)

    async def remove(self, name: str) -> None:
        """Delete the Deployment, its Service and its HPA (already gone is fine)."""
        known = self._specs.pop(name, None)
        self._informer.forget(name)
        self._urls.pop(name, None)
        namespace = self._settings.kube_namespace
        apps, core, autoscaling = self._kube.apps(), self._kube.core(), self._kube.autoscaling()
        for kind, fn in (
            ("HorizontalPodAutoscaler", autoscaling.delete_namespaced_horizontal_pod_autoscaler),
            ("Service", core.delete_namespaced_service),
            ("Deployment", apps.delete_namespaced_deployment),
        ):
            await self._kube.delete(self._where(kind, name), fn, name, namespace)
        await self._kube.delete_jobs(selector(name))
        if known is None or known.secrets:
            await delete_secret(self._kube, name, self._settings)
        await self._tokens.delete(self._kube, name, self._settings)

    async def reconcile(self) -> None:
        """Re-apply every service: recreate deleted objects, restore a replica count below min."""
        for spec in list(self._specs.values()):
            await self._apply_all(spec, create_first=False)

    async def refresh_endpoints(self) -> None:
        """Read the ready addresses of our services' EndpointSlices (one list call)."""
        if not self._specs:
            return
        listing = await self._kube.call(
            "list EndpointSlices",
            self._kube.discovery().list_namespaced_endpoint_slice,
            self._settings.kube_namespace,
            label_selector=f"{MANAGED_BY}={MANAGER}",
        )
        slices = listing.get("items") or []
        for name in list(self._specs):
            urls = ready_urls(slices, name)
            if urls != self._urls.get(name):
                self._urls[name] = urls
                self._turns[name] = itertools.count()

    def endpoint(self, name: str) -> Endpoint:
        self._known(name)
        if self._route == "service":
            namespace = self._settings.kube_namespace
            host = f"{name}.{namespace}.svc.cluster.local"
            grpc = f"{host}:{GRPC_PORT}" if self._specs[name].runtime == "onnx" else None
            return Endpoint(f"http://{host}", grpc_target=grpc, token=self._tokens.token(name))
        urls = self._urls.get(name) or []
        if not urls:
            raise Unavailable(f"service {name!r} has no ready endpoint yet", retry_after=1)
        return Endpoint(urls[next(self._turns[name]) % len(urls)], token=self._tokens.token(name))

    def status(self, name: str) -> ServiceState:
        obj = self._known(name)
        replicas = available(obj)
        url = f"http://{name}.{self._settings.kube_namespace}.svc.cluster.local"
        if replicas > 0:
            return ServiceState("ready", replicas=replicas, url=url)
        failed = failure(obj)
        if failed is not None:
            return ServiceState("failed", replicas=0, url=url, detail=failed)
        return ServiceState("starting", replicas=0, url=url, detail="no available replica")

    def _known_spec(self, name: str) -> ServiceSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise ServiceNotFound(f"service {name!r} is not deployed on the deployment backend")
        return spec

    def _known(self, name: str) -> Obj:
        self._known_spec(name)
        return self._informer.get(name) or {}

    async def logs(self, name: str, lines: int) -> list[str]:
        """The last lines logged by the runtime container of the service's newest pod."""
        self._known(name)
        return await self._kube.pod_logs(selector(name), lines)

    async def aclose(self) -> None:
        await self._refresher.stop()
        await self._reconciler.stop()
        await self._informer.stop()
        self._kube.close()


def available(deployment: Obj) -> int:
    """The Deployment's available replicas (0 until the controller reports some)."""
    status = deployment.get("status") or {}
    generation = (deployment.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return 0
    return int(status.get("availableReplicas") or 0)


def failure(deployment: Obj) -> str | None:
    """Why the Deployment's rollout failed (its progress deadline passed, or the ReplicaSet could
    not create pods), else None."""
    for condition in (deployment.get("status") or {}).get("conditions") or []:
        kind, status = condition.get("type"), condition.get("status")
        if (kind == "Progressing" and status == "False") or (
            kind == "ReplicaFailure" and status == "True"
        ):
            return str(condition.get("message") or condition.get("reason") or kind)
    return None
