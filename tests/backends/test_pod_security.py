"""Every pod the backends create, and the gateway's own, passes Pod Security "restricted" (the
rules of the Pod Security Standards, checked here as the admission plugin checks them): a
namespace that enforces it would refuse pods without a securityContext."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import Settings
from gateway.kube.objects import batch_job, deployment_objects, knative_service
from gateway.services import ServiceSpec, load_file
from tests.backends.test_manifests import MANIFESTS, OVERLAYS, render
from tests.backends.test_objects import SPECS
from tests.support import ROOT

OSCAR_FDL = ROOT / "tests" / "oscar_fdl" / "all_fields.yaml"

ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What the "restricted" level refuses in `pod` (a pod spec), as readable findings."""
    found: list[str] = []
    pod_context = pod.get("securityContext") or {}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            found.append(f"{key} is set")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {volume['name']} is of a refused type {kinds}")
    if pod_context.get("runAsUser") == 0:
        found.append("the pod runs as uid 0")
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for container in containers:
        name = container["name"]
        context = container.get("securityContext") or {}
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: adds capabilities")
        non_root = context.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
        if non_root is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
            found.append(f"{name}: runs as uid 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile")) or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: no seccompProfile RuntimeDefault")
    return found


def backend_pods(spec: ServiceSpec) -> dict[str, dict[str, Any]]:
    settings = Settings(kube_namespace="ml")
    job = batch_job(
        spec, settings, name="j", job_id="0" * 32, items=1, env={}, secret="inference-gateway-s"
    )
    return {
        "knative": knative_service(spec, settings)["spec"]["template"]["spec"],
        "deployment": deployment_objects(spec, settings)[0]["spec"]["template"]["spec"],
        "job": job["spec"]["template"]["spec"],
    }


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)  # cpu, gpu, arm64, amd64
def test_backend_pods_pass_restricted(spec: ServiceSpec) -> None:
    for kind, pod in backend_pods(spec).items():
        assert restricted_violations(pod) == [], kind


def test_backend_pods_run_as_the_images_uid_with_a_read_only_root_and_scratch_on_tmp() -> None:
    dockerfiles = sorted((ROOT / "model_images").glob("*/Dockerfile*"))
    assert dockerfiles
    for path in dockerfiles:
        user = [line for line in path.read_text().splitlines() if line.startswith("USER ")]
        assert user[-1].split()[1].split(":")[0] == "10001", path
    for pod in backend_pods(SPECS[1]).values():
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["runAsUser"] == 10001 and context["readOnlyRootFilesystem"] is True
        (mount,) = container["volumeMounts"]
        assert mount["mountPath"] == "/tmp"
        assert {"name": mount["name"], "emptyDir": {}} in pod["volumes"]


def test_an_exposed_services_pod_passes_restricted_with_a_writable_root() -> None:
    """An exposed service (OSCAR's ``expose``) runs its own image: restricted like the others,
    but its root filesystem stays writable (not a "restricted" rule; foreign images need it)."""
    (spec,) = [s for s in load_file(OSCAR_FDL).services if s.expose is not None]
    deployment = deployment_objects(spec, Settings(kube_namespace="ml"))[0]
    pod = deployment["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    (container,) = pod["containers"]
    assert container["name"] == "exposed"
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    (mount,) = container["volumeMounts"]
    assert {"name": mount["name"], "emptyDir": {}} in pod["volumes"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateways_own_pod_passes_restricted(overlay: str) -> None:
    objects = render(MANIFESTS / "overlays" / overlay)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    assert restricted_violations(deployment["spec"]["template"]["spec"]) == []


def test_the_checker_is_not_vacuous() -> None:
    assert restricted_violations({"containers": [{"name": "c"}]}) == [
        "c: allowPrivilegeEscalation is not false",
        "c: capabilities do not drop ALL",
        "c: runAsNonRoot is not true",
        "c: no seccompProfile RuntimeDefault",
    ]
