"""Every object the Kubernetes backends write validates against the official schemas: Deployments,
Services and HPAs with kubernetes-validate, Knative Services with the CRD's openAPIV3Schema
(made strict: an unknown field is an error, as a typo would be). Image variants choose the image
and the node constraints; wrong combinations are clear errors."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from gateway.config import Settings
from gateway.errors import InvalidDefinition
from gateway.kube.objects import deployment_objects, knative_service, owned_by
from gateway.kube.placement import check_variants, placement
from gateway.services import ServiceSpec

K8S_VERSION = "1.35.0"
CRD = Path(__file__).parent / "schemas" / "knative-serving-service-crd.yaml"


def strict(schema: Any) -> Any:
    """The schema with additionalProperties: false wherever it lists properties (and does not
    preserve unknown fields), as the API server's pruning would silently drop them."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@cache
def ksvc_validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))


def validate_ksvc(obj: dict[str, Any]) -> None:
    errors = sorted(ksvc_validator().iter_errors(obj), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def validate_k8s(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


SPECS = [
    ServiceSpec(name="cpu", model="m.onnx", image="r/cpu:1", min_scale=0, max_scale=3),
    ServiceSpec(
        name="gpu",
        model="m.onnx",
        image="r/m:1",
        variants={"gpu": "r/m:1-gpu"},
        enable_gpu=True,
        cpu="500m",
        memory="2Gi",
        min_scale=2,
        max_scale=5,
        timeout=30,
    ),
    ServiceSpec(name="arm", model="m.onnx", variants={"arm64": "r/m:1-arm64"}, platform="arm64"),
    ServiceSpec(name="amd", model="m.onnx", image="r/m:1", platform="amd64", min_scale=1),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_knative_service_validates_against_the_crd(spec: ServiceSpec) -> None:
    obj = knative_service(spec, Settings(kube_namespace="models"))
    validate_ksvc(obj)
    annotations = obj["spec"]["template"]["metadata"]["annotations"]
    assert annotations["autoscaling.knative.dev/min-scale"] == str(spec.min_scale)
    assert annotations["autoscaling.knative.dev/max-scale"] == str(spec.max_scale)
    assert {"autoscaling.knative.dev/target", "autoscaling.knative.dev/metric"} <= set(annotations)
    revision = obj["spec"]["template"]["spec"]
    assert revision["timeoutSeconds"] == (30 if spec.timeout else 300)
    assert revision["containerConcurrency"] >= 1
    (container,) = revision["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["resources"]["requests"] == {"cpu": spec.cpu, "memory": spec.memory}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RUNTIME_NAME"] == spec.name and "RUNTIME_MODEL_PATH" not in env
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "inference-gateway"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_deployment_service_and_hpa_validate(spec: ServiceSpec) -> None:
    deployment, service, hpa = deployment_objects(spec, Settings(kube_namespace="models"))
    owner = {**deployment, "metadata": {**deployment["metadata"], "uid": "0b6a-uid"}}
    for obj in (deployment, owned_by(service, owner), owned_by(hpa, owner)):
        validate_k8s(obj)
        assert obj["metadata"]["labels"]["inference-gateway/service"] == spec.name
    assert deployment["spec"]["replicas"] == max(1, spec.min_scale)
    assert hpa["spec"]["minReplicas"] == max(1, spec.min_scale)
    assert hpa["spec"]["maxReplicas"] == max(1, spec.min_scale, spec.max_scale)
    assert service["spec"]["ports"][0] == {
        "name": "http",
        "port": 80,
        "targetPort": 8080,
        "protocol": "TCP",
    }
    assert owned_by(service, owner)["metadata"]["ownerReferences"][0]["uid"] == "0b6a-uid"


def test_invalid_objects_are_caught_by_the_validators() -> None:
    """The validators are not vacuous: a typo'd field fails each of them."""
    obj = knative_service(SPECS[0], Settings())
    broken = copy.deepcopy(obj)
    broken["spec"]["template"]["spec"]["containerConcurency"] = 3
    with pytest.raises(AssertionError):
        validate_ksvc(broken)
    deployment = copy.deepcopy(deployment_objects(SPECS[0], Settings())[0])
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_k8s(deployment)


def test_gpu_variant_picks_the_gpu_image_limit_toleration_and_node_label() -> None:
    where = placement(SPECS[1], "accelerator=nvidia")
    assert where.image == "r/m:1-gpu"
    assert where.extra_limits == {"nvidia.com/gpu": "1"}
    assert where.node_selector == {"accelerator": "nvidia"}
    assert where.tolerations[0]["key"] == "nvidia.com/gpu"
    container = knative_service(SPECS[1], Settings())["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_platforms_pick_image_and_arch_selector() -> None:
    assert placement(SPECS[2]).node_selector == {"kubernetes.io/arch": "arm64"}
    assert placement(SPECS[2]).image == "r/m:1-arm64"
    assert placement(SPECS[3]).node_selector == {"kubernetes.io/arch": "amd64"}
    multi = placement(SPECS[0])
    assert multi.image == "r/cpu:1" and multi.node_selector == {}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"enable_gpu": True, "image": "r/m:1"}, "no 'gpu' image"),
        ({"platform": "arm64", "image": "r/m:1"}, "needs variants.arm64"),
        ({}, "need 'image'"),
    ],
)
def test_wrong_combinations_are_clear_errors(fields: dict[str, Any], message: str) -> None:
    spec = ServiceSpec(name="bad", model="m.onnx", backend="knative", **fields)
    with pytest.raises(InvalidDefinition, match=message):
        check_variants(spec)
    with pytest.raises(InvalidDefinition, match=message):
        knative_service(spec, Settings())
