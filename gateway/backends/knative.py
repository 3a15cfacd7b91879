"""KnativeBackend: each service is a ``serving.knative.dev/v1`` Service that may scale to zero.

`deploy` creates or patches the Knative Service and returns: the service is ``starting`` until
Knative reports it Ready. One watch on the namespace's Knative Services (`Informer`) keeps their
status current, so state and routing follow the cluster within a second; `wait_ready` waits
(bounded) for Ready or a failure. Requests go to ``status.address.url`` (in-cluster) or
``status.url`` (``settings.knative_route``). A Ready service may have no pod running (scaled to
zero): its `Endpoint` carries the cold-start budget within which the proxy retries refused
connections and 503s. A periodic reconcile re-applies every service, which recreates a deleted
one and undoes edits made behind our back. `remove` deletes the service and its batch Jobs.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from gateway.backends.base import Endpoint, ServiceState
from gateway.backends.reconcile import Periodic
from gateway.config import Settings
from gateway.errors import ServiceNotFound, Unavailable
from gateway.kube.access import JOBS, KNATIVE, AccessCheck
from gateway.kube.client import KubeApi, Obj
from gateway.kube.informer import Informer
from gateway.kube.objects import MANAGED_BY, MANAGER, knative_service, selector
from gateway.kube.secrets import RuntimeTokens, apply_secret, delete_secret
from gateway.services import ServiceSpec

log = logging.getLogger("gateway.knative")

GROUP, VERSION, PLURAL = "serving.knative.dev", "v1", "services"
MERGE_PATCH = "application/merge-patch+json"


def ready_condition(obj: Obj) -> tuple[str, str]:
    """The ``Ready`` condition's status ("True", "False", "Unknown") and its message, for the
    current generation (an older generation's condition counts as "Unknown")."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and observed < generation:
        return "Unknown", f"generation {generation} not observed yet"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            message = condition.get("message") or condition.get("reason") or ""
            return str(condition.get("status", "Unknown")), str(message)
    return "Unknown", "no Ready condition yet"


class KnativeBackend:
    """Runs services as Knative Services through the Kubernetes API."""

    name = "knative"

    def __init__(self, settings: Settings, api_client: Any | None = None) -> None:
        self._settings = settings
        self._tokens = RuntimeTokens.from_settings(settings)
        self._kube = KubeApi(settings, api_client)
        self._specs: dict[str, ServiceSpec] = {}
        self._access = AccessCheck(self._kube, (*KNATIVE, *JOBS))
        namespace = settings.kube_namespace
        self._informer = Informer(
            self._kube,
            f"Knative Services in {namespace}",
            lambda: functools.partial(
                self._kube.custom().list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL
            ),
            label_selector=f"{MANAGED_BY}={MANAGER}",
        )
        self._reconciler = Periodic(
            "knative-reconcile", settings.reconcile_interval, self.reconcile
        )

    def _where(self, name: str) -> str:
        return f"Knative Service {self._settings.kube_namespace}/{name}"

    async def _apply(self, spec: ServiceSpec, *, create_first: bool = True) -> Obj:
        body = knative_service(spec, self._settings)
        api = self._kube.custom()
        namespace = self._settings.kube_namespace
        create = functools.partial(
            api.create_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL
        )
        patch = functools.partial(
            api.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            spec.name,
            _content_type=MERGE_PATCH,
        )
        obj = await self._kube.create_or_patch(
            self._where(spec.name), create, patch, body, create_first=create_first
        )
        self._informer.record(obj)
        return obj

    async def deploy(self, spec: ServiceSpec) -> None:
        """Create or patch the Knative Service; it is ``starting`` until Knative reports Ready."""
        knative_service(spec, self._settings)  # an invalid placement fails before any API call
        await self._access.ensure()
        self._informer.start()
        previous = self._specs.get(spec.name)
        await apply_secret(self._kube, spec, self._settings, previous)
        await self._tokens.apply(self._kube, spec, self._settings)
        await self._apply(spec)
        self._specs[spec.name] = spec
        self._reconciler.ensure_started()

    async def wait_ready(self, name: str, timeout: float) -> ServiceState:
        """The service's state once Knative reports it Ready or failed, or after `timeout`."""
        self._known(name)
        await self._informer.wait(
            name, lambda o: ready_condition(o)[0] in ("True", "False"), timeout
        )
        return self.status(name)

    async def remove(self, name: str) -> None:
        """Delete the Knative Service (already gone is fine); Knative deletes what it owns."""
        known = self._specs.pop(name, None)
        self._informer.forget(name)
        api = self._kube.custom()
        await self._kube.delete(
            self._where(name),
            api.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            self._settings.kube_namespace,
            PLURAL,
            name,
        )
        await self._kube.delete_jobs(selector(name))
        if known is None or known.secrets:
            await delete_secret(self._kube, name, self._settings)
        await self._tokens.delete(self._kube, name, self._settings)

    async def reconcile(self) -> None:
        """Re-apply every service: recreate what was deleted, undo changes made behind our back."""
        for spec in list(self._specs.values()):
            await self._apply(spec, create_first=False)

    def _url(self, obj: Obj) -> str | None:
        status = obj.get("status") or {}
        address = (status.get("address") or {}).get("url")
        url = status.get("url")
        chosen = address if self._settings.knative_route == "address" else url
        return chosen or address or url

    def endpoint(self, name: str) -> Endpoint:
        obj = self._known(name)
        state, message = ready_condition(obj)
        url = self._url(obj)
        if state != "True" or not url:
            raise Unavailable(f"{self._where(name)} is not Ready: {message}", retry_after=1)
        return Endpoint(
            url.rstrip("/"),
            cold_start_budget=self._settings.cold_start_budget,
            token=self._tokens.token(name),
        )

    def status(self, name: str) -> ServiceState:
        obj = self._known(name)
        state, message = ready_condition(obj)
        url = self._url(obj)
        if state == "True":
            return ServiceState("ready", url=url, detail="Ready (may be scaled to zero)")
        if state == "False":
            return ServiceState("failed", url=url, detail=message)
        return ServiceState("starting", url=url, detail=message)

    def _known(self, name: str) -> Obj:
        if name not in self._specs:
            raise ServiceNotFound(f"service {name!r} is not deployed on the knative backend")
        return self._informer.get(name) or {}

    async def logs(self, name: str, lines: int) -> list[str]:
        """The last lines logged by the runtime container of the service's newest pod."""
        self._known(name)
        return await self._kube.pod_logs(selector(name), lines)

    async def aclose(self) -> None:
        await self._reconciler.stop()
        await self._informer.stop()
        self._kube.close()
