"""Every YAML under manifests/ validates against the Kubernetes schemas, and so do the overlays
rendered (a small kustomize: resources + strategic-merge patches, enough for these files; when a
`kubectl` is on PATH its `kustomize` must agree)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.kube.access import DEPLOYMENT, JOBS, KNATIVE, Verb
from gateway.kube.objects import owned_by
from tests.support import ROOT

MANIFESTS = ROOT / "manifests"
K8S_VERSION = "1.35.0"
OVERLAYS = ["knative", "deployment"]


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge as kustomize does it for these files: maps merge, lists of named maps
    merge by name, other values are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {k: merge(base[k], v) if k in base else v for k, v in patch.items()} | {
            k: v for k, v in base.items() if k not in patch
        }
    if isinstance(base, list) and isinstance(patch, list):
        if all(isinstance(i, dict) and "name" in i for i in base + patch):
            merged = {i["name"]: i for i in base}
            for item in patch:
                merged[item["name"]] = merge(merged.get(item["name"], {}), item)
            return list(merged.values())
    return patch


def render(folder: Path) -> list[dict[str, Any]]:
    kustomization = docs(folder / "kustomization.yaml")[0]
    objects: list[dict[str, Any]] = []
    for resource in kustomization.get("resources", []):
        target = folder / resource
        objects += render(target) if target.is_dir() else docs(target)
    for entry in kustomization.get("labels", []):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(entry["pairs"])
    for patch_ref in kustomization.get("patches", []):
        (patch,) = docs(folder / patch_ref["path"])
        key = (patch["kind"], patch["metadata"]["name"])
        objects = [
            merge(o, patch) if (o["kind"], o["metadata"]["name"]) == key else o for o in objects
        ]
    return objects


RESOURCE_FILES = sorted(
    p for p in MANIFESTS.rglob("*.yaml") if p.name != "kustomization.yaml" and "base" in p.parts
)


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_every_base_resource_validates(path: Path) -> None:
    for obj in docs(path):
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_render_to_valid_objects_with_their_backend(overlay: str) -> None:
    objects = render(MANIFESTS / "overlays" / overlay)
    assert {o["kind"] for o in objects} == {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
    }
    for obj in objects:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GATEWAY_BACKENDS"] == f'["{overlay}"]'
    assert "GATEWAY_KUBE_NAMESPACE" in env
    if shutil.which("kubectl"):
        rendered = subprocess.run(
            ["kubectl", "kustomize", str(MANIFESTS / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        by_kind = {o["kind"]: o for o in yaml.safe_load_all(rendered)}
        real_env = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["env"]
        assert sorted(real_env, key=str) == sorted(container["env"], key=str)


def test_the_role_grants_exactly_the_verbs_the_code_uses_and_nothing_cluster_wide() -> None:
    (role,) = docs(MANIFESTS / "base" / "role.yaml")
    assert role["kind"] == "Role"
    granted = {
        Verb(group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {*KNATIVE, *DEPLOYMENT, *JOBS}
    assert all("*" not in (v.group, v.resource, v.verb) for v in granted)


def test_blocking_owner_deletion_comes_with_update_on_the_owners_finalizers() -> None:
    """OwnerReferencesPermissionEnforcement (on in OpenShift) refuses blockOwnerDeletion without
    update on the owner's finalizers: the Service and HPA of a Deployment failed with 403."""
    deployment = {"metadata": {"name": "m", "uid": "u-1"}}
    (reference,) = owned_by({"metadata": {"name": "m"}}, deployment)["metadata"]["ownerReferences"]
    if reference.get("blockOwnerDeletion"):
        assert Verb("apps", "deployments/finalizers", "update") in DEPLOYMENT
