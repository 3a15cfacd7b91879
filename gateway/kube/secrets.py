"""Writes and deletes the Secret that carries a service's ``secrets`` into its pods.

The Secret is replaced whole on each apply (a removed key goes), and deleted with the service
or when an update drops its last secret. A service without secrets costs no API call here.
Its values never reach a log line: errors name the object only.
"""

from __future__ import annotations

import functools

from gateway.config import Settings
from gateway.kube.client import KubeApi
from gateway.kube.objects import secret_name, service_secret
from gateway.services import ServiceSpec


async def apply_secret(
    kube: KubeApi, spec: ServiceSpec, settings: Settings, previous: ServiceSpec | None = None
) -> None:
    """Create or replace the service's Secret; delete it when an update (from `previous`)
    leaves the service without secrets."""
    if not spec.secrets:
        if previous is not None and previous.secrets:
            await delete_secret(kube, spec.name, settings)
        return
    core, namespace = kube.core(), settings.kube_namespace
    name = secret_name(spec.name)
    await kube.create_or_patch(
        f"Secret {namespace}/{name}",
        functools.partial(core.create_namespaced_secret, namespace),
        functools.partial(core.replace_namespaced_secret, name, namespace),
        service_secret(spec, settings),
    )


async def delete_secret(kube: KubeApi, service: str, settings: Settings) -> None:
    """Delete the service's Secret (already gone is fine)."""
    namespace, name = settings.kube_namespace, secret_name(service)
    await kube.delete(
        f"Secret {namespace}/{name}", kube.core().delete_namespaced_secret, name, namespace
    )
