"""The container of an ``expose``d service (OSCAR's exposed services): the service's own image
serving its own HTTP API on ``expose.api_port``, as a long-running Deployment.

With ``default_command: false`` (OSCAR's default) the container runs the service's script with
``/bin/sh -c``; with ``true``, the image's own entrypoint. The readiness probe asks
``expose.health_path`` on the port. ``OSCAR_SERVICE_NAME`` and ``OSCAR_SERVICE_BASE_PATH`` are set
as OSCAR sets them (the base path only with ``rewrite_target: true``, where the application sees
the whole ``/system/services/<name>/exposed/...`` path).
"""

from __future__ import annotations

from typing import Any

from gateway.kube.placement import Placement
from gateway.services import ServiceSpec

SHELL = "/bin/sh"


def base_path(spec: ServiceSpec) -> str:
    """The path prefix under which the gateway serves the exposed service."""
    return f"/system/services/{spec.name}/exposed"


def exposed_container(
    spec: ServiceSpec, where: Placement, *, resources: dict[str, Any], secret: str
) -> dict[str, Any]:
    """The one container of an exposed service's pods (`resources`: its requests and limits,
    `secret`: the name of its Secret)."""
    assert spec.expose is not None, "only for exposed services"
    expose = spec.expose
    env = {
        **spec.environment,
        "OSCAR_SERVICE_NAME": spec.name,
        "OSCAR_SERVICE_BASE_PATH": base_path(spec) if expose.rewrite_target else "",
    }
    container: dict[str, Any] = {
        "name": "exposed",
        "image": where.image,
        "ports": [{"name": "http", "containerPort": expose.api_port, "protocol": "TCP"}],
        "env": [{"name": key, "value": value} for key, value in sorted(env.items())],
        "resources": resources,
        "readinessProbe": {
            "httpGet": {"path": expose.health_path, "port": expose.api_port},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
    }
    if not expose.default_command and spec.script:
        container["command"] = [SHELL, "-c", spec.script]
    if spec.secrets:
        container["envFrom"] = [{"secretRef": {"name": secret}}]
    return container
