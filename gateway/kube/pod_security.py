"""Pod Security "restricted" for every pod the backends create (Knative revisions, Deployments,
batch Jobs, GPU variants included).

The settings sit on the container (Knative accepts a pod-level securityContext only behind a
feature flag): a non-root uid (the images' ``USER 10001``), no privilege escalation, every
capability dropped, the runtime's default seccomp profile and a read-only root filesystem, with an
``emptyDir`` on ``/tmp`` for the scratch files the runtimes write (script inputs and outputs).
An exposed service's container (its own image, `gateway.kube.exposed`) is restricted the same
way but keeps a writable root filesystem, which "restricted" does not forbid and which images not
built for the gateway commonly need.
"""

from __future__ import annotations

from typing import Any

RUNTIME_UID = 10001  # USER 10001:10001 in model_images/*/Dockerfile*
SCRATCH_VOLUME = "scratch"
SCRATCH_PATH = "/tmp"


def container_security(*, read_only_root: bool = True) -> dict[str, Any]:
    """The container securityContext that the "restricted" Pod Security level asks for (and a
    read-only root filesystem, which it does not ask for, unless `read_only_root` is false)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUNTIME_UID,
        "runAsGroup": RUNTIME_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restrict_container(container: dict[str, Any], *, read_only_root: bool = True) -> dict[str, Any]:
    """`container` restricted, with the scratch emptyDir (see `restrict`) on ``/tmp``."""
    container["securityContext"] = container_security(read_only_root=read_only_root)
    mounts = container.setdefault("volumeMounts", [])
    mounts.append({"name": SCRATCH_VOLUME, "mountPath": SCRATCH_PATH})
    return container


def restrict(pod: dict[str, Any]) -> dict[str, Any]:
    """`pod` (a pod spec) with every container restricted and the scratch emptyDir mounted."""
    for container in pod["containers"]:
        restrict_container(container)
    pod.setdefault("volumes", []).append({"name": SCRATCH_VOLUME, "emptyDir": {}})
    return pod
