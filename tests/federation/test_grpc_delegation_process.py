"""OIP gRPC calls delegated between two real gateway processes on loopback.

The edge's digits runtime cannot load its model (a failed runtime); its member is the cloud,
whose OIP gRPC port the edge knows from ``clusters: {cloud: {grpc_url: host:port}}``. Calls
go there with the hop marker (metadata ``x-delegated-from``) and the cloud's service token
(fetched with Basic); the initial metadata ``x-served-by`` names who answered.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from runtimes.oip import SERVICE
from runtimes.oip import grpc_predict_v2_pb2 as pb
from tests.federation.members import member_env
from tests.support import (
    DIGITS_YAML,
    ServerProcess,
    digits_holdout,
    free_port,
    python_command,
    server_process,
)

EDGE_ADMIN = "edge-admin-secret"
CLOUD_ADMIN = "cloud-admin-secret"

EDGE_FDL = """
services:
  - name: digits
    model: {bad_model}
    replicas: [{{type: oscar, cluster_id: cloud}}]
    clusters: &clusters
      cloud:
        endpoint: "{cloud}"
        grpc_url: "127.0.0.1:{cloud_grpc}"
        auth_user: oscar
        auth_password: {cloud_admin}
      dead: {{endpoint: "{cloud}", grpc_url: "127.0.0.1:{dead_grpc}"}}
  - name: relay
    runtime: script
    cannot_run: declared here, run elsewhere
    replicas:
      - {{type: oscar, cluster_id: dead, service_name: digits, priority: 0}}
      - {{type: oscar, cluster_id: cloud, service_name: digits, priority: 1}}
    clusters: *clusters
"""


def _gateway(data_dir: Path, cluster: str, admin: str, fdl: Path, grpc_port: int) -> Any:
    port = free_port()
    command = python_command("-m", "gateway", "serve", "-f", str(fdl), "--port", str(port))
    env = member_env(
        data_dir,
        cluster,
        admin,
        GATEWAY_GRPC_PORT=str(grpc_port),
        GATEWAY_RESTART_BACKOFF_MAX="5",
    )
    return server_process(
        command, port=port, log_path=data_dir / "gateway.log", env=env, ready_path="/health"
    )


@pytest.fixture(scope="module")
def cloud_grpc() -> int:
    return free_port()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, cloud_grpc: int) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("cloud")
    with _gateway(data_dir, "cloud", CLOUD_ADMIN, DIGITS_YAML, cloud_grpc) as server:
        _wait_ready(server, CLOUD_ADMIN, "digits")
        yield server


@pytest.fixture(scope="module")
def edge_grpc(
    tmp_path_factory: pytest.TempPathFactory, cloud: ServerProcess, cloud_grpc: int
) -> Iterator[tuple[str, ServerProcess]]:
    """The edge's gRPC target (``host:port``), and its process."""
    data_dir = tmp_path_factory.mktemp("edge")
    bad_model = data_dir / "bad.onnx"
    bad_model.write_bytes(b"this is not an ONNX model")
    fdl = data_dir / "edge.yaml"
    fdl.write_text(
        EDGE_FDL.format(
            bad_model=bad_model,
            cloud=cloud.url,
            cloud_grpc=cloud_grpc,
            cloud_admin=CLOUD_ADMIN,
            dead_grpc=free_port(),  # nobody listens there
        )
    )
    port = free_port()
    with _gateway(data_dir, "edge", EDGE_ADMIN, fdl, port) as server:
        yield f"127.0.0.1:{port}", server


@pytest.fixture
def channel(edge_grpc: tuple[str, ServerProcess]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(edge_grpc[0]) as opened:
        yield opened


def _wait_ready(server: ServerProcess, admin: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {admin}"}
    while httpx.get(f"{server.url}/system/services/{name}", headers=headers).json()["state"] != (
        "ready"
    ):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not ready\n{server.log()}")
        time.sleep(0.1)


def _call(channel: grpc.Channel, name: str, request: Any, answer: Any, **kwargs: Any) -> Any:
    call = channel.unary_unary(
        f"/{SERVICE}/{name}",
        request_serializer=type(request).SerializeToString,
        response_deserializer=answer.FromString,
    )
    return call.with_call(request, timeout=60, **kwargs)


def _infer_request() -> tuple[pb.ModelInferRequest, np.ndarray]:
    x_test, y_test = digits_holdout()
    rows = x_test[:8].astype(np.float32)
    request = pb.ModelInferRequest(model_name="digits", id="g1")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=rows.shape)
    tensor.contents.fp32_contents[:] = rows.reshape(-1).tolist()
    request.outputs.add(name="label")
    return request, y_test[:8]


ADMIN_METADATA = (("authorization", f"Bearer {EDGE_ADMIN}"),)


def test_grpc_infer_on_a_failed_runtime_is_served_by_the_member(channel: grpc.Channel) -> None:
    request, labels = _infer_request()
    answer, call = _call(
        channel, "ModelInfer", request, pb.ModelInferResponse, metadata=ADMIN_METADATA
    )
    assert dict(call.initial_metadata())["x-served-by"] == "cloud"
    assert answer.model_name == "digits" and answer.id == "g1"
    got = np.frombuffer(answer.raw_output_contents[0], dtype="<i8")
    assert (got == labels).sum() >= 7


def test_grpc_model_ready_is_answered_by_the_member(channel: grpc.Channel) -> None:
    answer, call = _call(
        channel, "ModelReady", pb.ModelReadyRequest(name="digits"), pb.ModelReadyResponse
    )
    assert answer.ready is True
    assert dict(call.initial_metadata())["x-served-by"] == "cloud"


def test_grpc_call_carrying_the_hop_marker_is_not_delegated(channel: grpc.Channel) -> None:
    request, _ = _infer_request()
    metadata = (*ADMIN_METADATA, ("x-delegated-from", "elsewhere"))
    with pytest.raises(grpc.RpcError) as raised:
        _call(channel, "ModelInfer", request, pb.ModelInferResponse, metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_dead_member_is_skipped_and_the_next_serves_under_its_own_name(
    channel: grpc.Channel, edge_grpc: tuple[str, ServerProcess]
) -> None:
    """``relay`` is ``digits`` at both members (``service_name``): the model's name is set to
    the member's; the dead member (nothing on its gRPC port) is held off, the cloud answers."""
    request, labels = _infer_request()
    request.model_name = "relay"
    answer, call = _call(
        channel, "ModelInfer", request, pb.ModelInferResponse, metadata=ADMIN_METADATA
    )
    assert dict(call.initial_metadata())["x-served-by"] == "cloud"
    assert answer.model_name == "digits"
    got = np.frombuffer(answer.raw_output_contents[0], dtype="<i8")
    assert (got == labels).sum() >= 7
    assert "service relay: member dead failed" in edge_grpc[1].log()
