"""The runtime's gRPC port on Kubernetes: a Deployment and its Service expose it (valid objects;
routing over endpoints still picks the http port); a Knative revision, which may have only one
port, does not."""

from __future__ import annotations

from gateway.backends.deployment import ready_urls
from gateway.config import Settings
from gateway.kube.objects import deployment_objects, knative_service, owned_by
from gateway.services import ServiceSpec
from tests.backends.test_objects import validate_k8s, validate_ksvc

SPEC = ServiceSpec(name="cpu", model="m.onnx", image="r/cpu:1")  # type: ignore[arg-type]


def test_a_deployment_serves_grpc_on_8081() -> None:
    deployment, service, _ = deployment_objects(SPEC, Settings())
    validate_k8s(deployment)
    owner = {**deployment, "metadata": {**deployment["metadata"], "uid": "u"}}
    validate_k8s(owned_by(service, owner))
    (runtime,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "grpc", "containerPort": 8081, "protocol": "TCP"} in runtime["ports"]
    assert {"name": "RUNTIME_GRPC_PORT", "value": "8081"} in runtime["env"]
    assert {"name": "grpc", "port": 8081, "targetPort": 8081, "protocol": "TCP"} in service["spec"][
        "ports"
    ]


def test_a_knative_revision_keeps_its_one_port() -> None:
    ksvc = knative_service(SPEC, Settings())
    validate_ksvc(ksvc)
    (runtime,) = ksvc["spec"]["template"]["spec"]["containers"]
    assert [p["name"] for p in runtime["ports"]] == ["http1"]
    assert all(item["name"] != "RUNTIME_GRPC_PORT" for item in runtime["env"])


def test_endpoint_routing_picks_the_http_port_of_a_two_port_service() -> None:
    slices = [
        {
            "metadata": {"labels": {"kubernetes.io/service-name": "cpu"}},
            "ports": [{"name": "grpc", "port": 8081}, {"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}}],
        }
    ]
    assert ready_urls(slices, "cpu") == ["http://10.0.0.2:8080"]
