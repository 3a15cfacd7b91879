"""A service as OSCAR's API shows it (``pkg/types.Service``), made from our `ServiceSpec`.

``GET /system/services[/{name}]`` answers one object per service: these OSCAR fields, with our
own keys (backend, state, replicas, detail, definition...) beside them, so that OSCAR's clients
and our CLI read the same answer. No secret is part of it: ``environment.secrets`` shows the
names only, and storage credentials are left out (a client gets the default store's from
``GET /system/config``, the admin only, as oscar-python does).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.services import ServiceSpec, StorageIO, StorageSpec
from gateway.spec_parts import MASK


def provider_id(storage: str) -> str:
    """OSCAR's ``storage_provider`` of one of our stores (``default`` -> ``minio.default``)."""
    return f"minio.{storage}"


def storage_provider(spec: StorageSpec | None) -> dict[str, Any]:
    """OSCAR's MinIO provider fields for a store, without its credentials."""
    endpoint = spec.endpoint if spec is not None and spec.type == "s3" else None
    return {
        "endpoint": endpoint or "",
        "verify": bool(endpoint and endpoint.startswith("https")),
        "region": spec.region if spec is not None else "us-east-1",
        "access_key": "",
        "secret_key": "",
    }


def _binding(io: StorageIO) -> dict[str, Any]:
    return {
        "storage_provider": provider_id(io.storage),
        "path": io.path,
        "suffix": list(io.suffix),
        "prefix": list(io.prefix),
    }


def oscar_service(spec: ServiceSpec, storage: Mapping[str, StorageSpec]) -> dict[str, Any]:
    """OSCAR's fields of a service (no token: the caller adds it for the admin)."""
    used = sorted({io.storage for io in (*spec.input, *spec.output)} | {"default"})
    return {
        "name": spec.name,
        "image": spec.image or "",
        "script": spec.script or "",
        "cpu": spec.cpu,
        "memory": spec.memory,
        "enable_gpu": spec.enable_gpu,
        "synchronous": {"min_scale": spec.min_scale, "max_scale": spec.max_scale},
        "environment": {
            "variables": dict(spec.environment),
            "secrets": {key: MASK for key in spec.secrets},  # names only, never values
        },
        "labels": dict(spec.kube_labels),
        "annotations": dict(spec.annotations),
        "input": [_binding(io) for io in spec.input],
        "output": [_binding(io) for io in spec.output],
        "storage_providers": {
            "minio": {name: storage_provider(storage.get(name)) for name in used},
        },
        "visibility": spec.visibility,
        "log_level": (spec.log_level or "info").upper(),
        "expose": spec.expose.model_dump(mode="json") if spec.expose is not None else {},
        "alpine": False,
        "cluster_id": "",
    }
