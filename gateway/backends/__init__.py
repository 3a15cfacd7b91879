"""Backends: where a service's runtime runs (local processes, Knative, Kubernetes Deployments)."""

from __future__ import annotations

from gateway.backends.base import Backend
from gateway.backends.local import LocalBackend
from gateway.config import Settings


def build_backends(settings: Settings, local: LocalBackend | None = None) -> dict[str, Backend]:
    """The backends enabled by ``settings.backends``, by name (``local``: the one already made,
    which ``gateway serve`` starts its runtimes on before it builds the rest).

    The Kubernetes backends connect lazily (in-cluster config, else the kubeconfig) on first use.
    """
    built: dict[str, Backend] = {}
    for name in settings.backends:
        if name == "local":
            built[name] = local or LocalBackend(settings)
        elif name == "knative":  # the kubernetes client costs ~60 MB: only where it is used
            from gateway.backends.knative import KnativeBackend

            built[name] = KnativeBackend(settings)
        elif name == "deployment":
            from gateway.backends.deployment import DeploymentBackend

            built[name] = DeploymentBackend(settings, route=settings.deployment_route)
    return built
