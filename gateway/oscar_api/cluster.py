"""OSCAR's cluster routes: ``GET /health``, ``GET /system/config``, ``GET /system/status``.

- ``/health``: 200 ``Ok`` (no credentials needed).
- ``/system/config``: what a client needs to reach the storage, in OSCAR's shape: ``{"config",
  "minio_provider": {endpoint, verify, region, access_key, secret_key},
  "allowed_image_repositories"}``. The default store's credentials go to the admin only; a caller
  with a service's token gets the same answer with them blank. With the embedded folder store
  (no S3 endpoint) the endpoint is blank: the store is this gateway's disk.
- ``/system/status``: this machine's load in OSCAR's shape (one node: cpu in millicores from the
  load average, memory in bytes from ``/proc/meminfo``), and the jobs by status.
"""

from __future__ import annotations

import hmac
import os
import socket
from collections.abc import Mapping
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from gateway import __version__
from gateway.auth import Authenticator, credentials, hash_token
from gateway.config import Settings
from gateway.errors import Forbidden, Unauthorized
from gateway.jobs import JobStore
from gateway.oscar_shape import storage_provider
from gateway.registry import Registry
from gateway.services import StorageSpec
from gateway.system import json_response

_MEMINFO = Path("/proc/meminfo")


class ClusterRoutes:
    """Handlers of OSCAR's health, config and status routes."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        jobs: JobStore,
        storage: Mapping[str, StorageSpec],
        auth: Authenticator,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._jobs = jobs
        self._storage = storage
        self._auth = auth

    async def health(self, request: Request) -> Response:
        """GET /health: the gateway answers."""
        return PlainTextResponse("Ok")

    async def config(self, request: Request) -> Response:
        """GET /system/config: how to reach the default store (credentials: the admin only)."""
        admin = self._auth.is_admin_request(request)
        if not admin:
            self._require_service_token(request)
        default = self._storage.get("default")
        provider = storage_provider(default)
        if admin and default is not None and default.type == "s3":
            provider["access_key"] = default.access_key or ""
            provider["secret_key"] = default.secret_key or ""
        backends = sorted({entry.backend.name for entry in self._registry})
        return json_response(
            {
                "config": {
                    "name": "inference-gateway",
                    "version": __version__,
                    "namespace": self._settings.kube_namespace,
                    "services_namespace": self._settings.kube_namespace,
                    "serverless_backend": ",".join(backends) or "local",
                    "gpu_available": False,
                    "oidc_enable": False,
                },
                "minio_provider": provider,
                "allowed_image_repositories": [],
            }
        )

    async def status(self, request: Request) -> Response:
        """GET /system/status: this machine's cpu and memory, and the jobs by status."""
        self._auth.require_admin(request)
        cores = os.cpu_count() or 1
        cpu_capacity = cores * 1000
        cpu_used = min(cpu_capacity, round(os.getloadavg()[0] * 1000))
        memory_total, memory_free = _memory()
        memory_used = memory_total - memory_free
        counts = self._jobs.count()
        node = {
            "nodeName": socket.gethostname(),
            "cpuCapacity": str(cpu_capacity),
            "cpuUsage": str(cpu_used),
            "cpuPercentage": f"{100 * cpu_used / cpu_capacity:.2f}",
            "memoryCapacity": str(memory_total),
            "memoryUsage": str(memory_used),
            "memoryPercentage": f"{100 * memory_used / memory_total:.2f}" if memory_total else "0",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        return json_response(
            {
                "numberNodes": 1,
                "cpuFreeTotal": cpu_capacity - cpu_used,
                "cpuMaxFree": cpu_capacity - cpu_used,
                "memoryFreeTotal": memory_free,
                "memoryMaxFree": memory_free,
                "hasGPU": False,
                "gpusTotal": 0,
                "detail": [node],
                "OSCAR": {
                    "deploymentName": "inference-gateway",
                    "deploymentReady": True,
                    "jobsCount": {
                        "active": counts.get("queued", 0) + counts.get("running", 0),
                        "succeeded": counts.get("succeeded", 0),
                        "failed": counts.get("failed", 0) + counts.get("cancelled", 0),
                    },
                    "podsInfo": {"total": len(self._registry), "states": self._states()},
                },
                "MinIO": {"buckets": []},
            }
        )

    def _states(self) -> dict[str, int]:
        states: dict[str, int] = {}
        for entry in self._registry:
            state = entry.backend.status(entry.spec.name).state
            states[state] = states.get(state, 0) + 1
        return states

    def _require_service_token(self, request: Request) -> None:
        """Not the admin: a Bearer token of one of the services, else 401/403."""
        found = credentials(request)
        if found is None:
            raise Unauthorized("this route needs the admin's credentials or a service's token")
        digest = hash_token(found.secret)
        if found.scheme == "bearer" and any(
            entry.token_hash is not None and hmac.compare_digest(digest, entry.token_hash)
            for entry in self._registry
        ):
            return
        raise Forbidden("the credentials are neither the admin's nor a service's token")


def _memory() -> tuple[int, int]:
    """Total and available memory in bytes (0, 0 where ``/proc/meminfo`` is not there)."""
    try:
        text = _MEMINFO.read_text()
    except OSError:
        return 0, 0
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            values[key] = int(fields[0]) * 1024
    return values.get("MemTotal", 0), values.get("MemAvailable", values.get("MemFree", 0))
