"""Writes and deletes the Secrets that carry a service's ``secrets`` and its runtime token into
its pods.

The ``secrets`` Secret is replaced whole on each apply (a removed key goes), and deleted with the
service or when an update drops its last secret; a service without secrets costs no API call
for it. The runtime token (`runtimes.auth`) is derived from the gateway's key and the service's
name (`RuntimeTokens`), so the gateway knows it again after a restart without reading Secrets;
its Secret is written on each deploy and deleted with the service. Values never reach a log line:
errors name the object only.
"""

from __future__ import annotations

import functools

from gateway.config import Settings
from gateway.kube.client import KubeApi
from gateway.kube.objects import secret_name, service_secret, token_secret, token_secret_name
from gateway.services import ServiceSpec
from gateway.tokens import TokenKey


class RuntimeTokens:
    """The runtime tokens of the services on Kubernetes: HMAC-SHA256 of the gateway's key
    (``<data dir>/token.key``, the key of the service tokens) and the service's name."""

    def __init__(self, key: TokenKey) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> RuntimeTokens:
        """The tokens of the gateway configured by `settings` (its key file)."""
        return cls(TokenKey.load_or_create(settings.data_dir / "token.key"))

    def token(self, service: str) -> str:
        """The runtime token of `service` (64 hex characters)."""
        return self._key.derive(f"runtime-token:{service}")

    async def apply(self, kube: KubeApi, spec: ServiceSpec, settings: Settings) -> None:
        """Create or replace the service's token Secret (before its pods need it)."""
        core, namespace = kube.core(), settings.kube_namespace
        name = token_secret_name(spec.name)
        await kube.create_or_patch(
            f"Secret {namespace}/{name}",
            functools.partial(core.create_namespaced_secret, namespace),
            functools.partial(core.patch_namespaced_secret, name, namespace),  # its one key
            token_secret(spec, settings, self.token(spec.name)),
        )

    async def delete(self, kube: KubeApi, service: str, settings: Settings) -> None:
        """Delete the service's token Secret (already gone is fine)."""
        namespace, name = settings.kube_namespace, token_secret_name(service)
        await kube.delete(
            f"Secret {namespace}/{name}", kube.core().delete_namespaced_secret, name, namespace
        )


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
