"""Backends: where a service's runtime runs (local processes, Knative, Kubernetes Deployments)."""

from __future__ import annotations

from gateway.backends.base import Backend
from gateway.backends.local import LocalBackend
from gateway.config import Settings


def build_backends(settings: Settings) -> dict[str, Backend]:
    """The backends enabled by ``settings.backends``, by name."""
    built: dict[str, Backend] = {}
    for name in settings.backends:
        if name == "local":
            built[name] = LocalBackend(settings)
    return built
