"""The runtime token on Kubernetes: in a Secret of its own, read by the pods through
``secretKeyRef`` (never a literal in the pod spec), derived from the gateway's key so that the
gateway knows it again after a restart. (The end-to-end tests of `test_knative` and
`test_deployment` start the runtime with the Secret's token, as a kubelet would, and call it
through the gateway.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.kube.objects import batch_job, deployment_objects, knative_service, token_secret
from gateway.kube.secrets import RuntimeTokens
from gateway.services import ServiceSpec
from gateway.tokens import TokenKey
from runtimes.auth import TOKEN_ENV
from tests.backends.test_objects import validate_k8s, validate_ksvc

SETTINGS = Settings(kube_namespace="models")
SPEC = ServiceSpec(name="digits", model="m.onnx", image="r/digits:1")
FROM_SECRET = {"secretKeyRef": {"name": "digits-runtime-token", "key": TOKEN_ENV}}


def _token_env(container: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in container["env"] if e["name"] == TOKEN_ENV]


def test_knative_revision_reads_the_token_from_its_secret() -> None:
    obj = knative_service(SPEC, SETTINGS)
    validate_ksvc(obj)
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    assert _token_env(container) == [{"name": TOKEN_ENV, "valueFrom": FROM_SECRET}]


def test_deployment_pods_read_the_token_from_its_secret() -> None:
    deployment, _, _ = deployment_objects(SPEC, SETTINGS)
    validate_k8s(deployment)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert _token_env(container) == [{"name": TOKEN_ENV, "valueFrom": FROM_SECRET}]


def test_the_token_secret_validates_and_holds_the_token_only() -> None:
    secret = token_secret(SPEC, SETTINGS, "f" * 64)
    validate_k8s(secret)
    assert secret["metadata"]["name"] == "digits-runtime-token"
    assert secret["stringData"] == {TOKEN_ENV: "f" * 64}


def test_a_batch_job_pod_gets_no_token() -> None:
    job = batch_job(SPEC, SETTINGS, name="j", job_id="1", items=1, env={}, secret=None)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert not _token_env(container)


def test_tokens_are_derived_per_service_and_stable_across_restarts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first, again = RuntimeTokens.from_settings(settings), RuntimeTokens.from_settings(settings)
    assert first.token("a") == again.token("a")  # the same key file: the same token
    assert first.token("a") != first.token("b")
    assert len(first.token("a")) == 64
    other = RuntimeTokens(TokenKey(b"k" * 32))
    assert other.token("a") != first.token("a")
