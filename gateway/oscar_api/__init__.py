"""OSCAR's API beside ours, with OSCAR's semantics, so OSCAR's clients work unchanged.

``POST /run/{service}`` (`run`), ``/system/logs/{service}[/{job}]`` (`logs`), ``/health``,
``/system/config``, ``/system/status`` (`cluster`), ``/system/services/{service}/exposed/...``
(`exposed`). ``POST /job/{service}`` with OSCAR's bodies
is `gateway.jobs.oscar_submit`; ``GET /system/services[/{name}]`` in OSCAR's shape is
`gateway.oscar_shape`; HTTP Basic for the admin is `gateway.auth`.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.routing import Route

from gateway.auth import Authenticator
from gateway.config import Settings
from gateway.jobs import JobService
from gateway.oscar_api.cluster import ClusterRoutes
from gateway.oscar_api.exposed import METHODS, ExposedProxy
from gateway.oscar_api.logs import JobLogs
from gateway.oscar_api.run import SyncRuns
from gateway.proxy import Proxy
from gateway.registry import Registry
from gateway.services import StorageSpec

__all__ = ["oscar_routes"]


def oscar_routes(
    settings: Settings,
    registry: Registry,
    proxy: Proxy,
    jobs: JobService,
    storage: Mapping[str, StorageSpec],
    auth: Authenticator,
) -> list[Route]:
    """The routes of OSCAR's API that ours does not already serve."""
    runs = SyncRuns(settings, registry, proxy, jobs, jobs.stores, auth)
    logs = JobLogs(jobs.store, registry, auth)
    cluster = ClusterRoutes(settings, registry, jobs.store, storage, auth)
    exposed = ExposedProxy(settings, registry, proxy, auth)
    return [
        Route("/run/{service}", runs.run, methods=["POST"]),
        Route("/health", cluster.health, methods=["GET"]),
        Route("/system/config", cluster.config, methods=["GET"]),
        Route("/system/status", cluster.status, methods=["GET"]),
        Route("/system/logs/{service}", logs.list_jobs, methods=["GET"]),
        Route("/system/logs/{service}", logs.delete_jobs, methods=["DELETE"]),
        Route("/system/logs/{service}/{job}", logs.log, methods=["GET"]),
        Route("/system/logs/{service}/{job}", logs.delete_job, methods=["DELETE"]),
        Route("/system/services/{service}/exposed/{path:path}", exposed.forward, methods=METHODS),
    ]
