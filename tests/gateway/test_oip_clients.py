"""Real Open Inference Protocol clients, unchanged, through a real `gateway serve` process:
tritonclient over HTTP (binary tensors by default) and gRPC, and KServe's REST and gRPC clients,
with auth on (the admin token may call every service)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import orjson
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.oip_inputs import DAISY, imagenet_tensor
from tests.support import (
    DIGITS_YAML,
    IMAGENET_YAML,
    ROOT,
    ServerProcess,
    free_port,
    gateway_process,
)

TOKEN = "oip-test-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # tritonclient adds to the dict it is given: copy it
GRPC_AUTH = {"authorization": f"Bearer {TOKEN}"}  # gRPC metadata keys are lower case
BODY_LIMIT = 4 * 1024 * 1024  # 6 flower tensors (3.6 MB) fit, 7 do not


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    folder = tmp_path_factory.mktemp("gateway-oip")
    grpc_port = free_port()
    env = {"GATEWAY_ADMIN_TOKEN": TOKEN, "GATEWAY_MAX_BODY_BYTES": str(BODY_LIMIT)}
    args = ("--grpc-port", str(grpc_port))
    with gateway_process(folder, IMAGENET_YAML, DIGITS_YAML, env=env, args=args) as server:
        yield server, f"127.0.0.1:{grpc_port}"


@pytest.fixture(scope="module")
def http_client(gateway: tuple[ServerProcess, str]) -> Iterator[triton_http.InferenceServerClient]:
    client = triton_http.InferenceServerClient(gateway[0].url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(gateway: tuple[ServerProcess, str]) -> Iterator[triton_grpc.InferenceServerClient]:
    client = triton_grpc.InferenceServerClient(gateway[1])
    yield client
    client.close()


def _http_input(tensor: np.ndarray) -> triton_http.InferInput:
    infer_input = triton_http.InferInput("input", list(tensor.shape), "FP32")
    infer_input.set_data_from_numpy(tensor)  # binary_data=True by default
    return infer_input


def _grpc_input(tensor: np.ndarray) -> triton_grpc.InferInput:
    infer_input = triton_grpc.InferInput("input", list(tensor.shape), "FP32")
    infer_input.set_data_from_numpy(tensor)
    return infer_input


def test_triton_http_default_infer_is_binary_both_ways_and_a_daisy(
    http_client: triton_http.InferenceServerClient,
) -> None:
    result = http_client.infer("imagenet", [_http_input(imagenet_tensor())], headers=dict(AUTH))
    (output,) = result.get_response()["outputs"]
    assert "binary_data_size" in output["parameters"]  # the answer came as binary data
    assert result.as_numpy("logits").argmax() == DAISY


def test_triton_http_metadata_and_readiness_with_version(
    http_client: triton_http.InferenceServerClient,
) -> None:
    server = http_client.get_server_metadata()
    assert server["name"] == "inference-gateway"
    assert "binary_tensor_data" in server["extensions"]
    model = http_client.get_model_metadata("imagenet", "1")
    assert model["versions"] == ["1"]
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert http_client.is_server_live() and http_client.is_server_ready()
    assert http_client.is_model_ready("imagenet", "1")
    assert not http_client.is_model_ready("imagenet", "2")


def test_triton_http_version_route_infers(http_client: triton_http.InferenceServerClient) -> None:
    result = http_client.infer(
        "imagenet", [_http_input(imagenet_tensor())], model_version="1", headers=dict(AUTH)
    )
    assert result.as_numpy("logits").argmax() == DAISY


@pytest.mark.parametrize(
    ("model", "tensor", "headers", "status"),
    [
        ("nope", imagenet_tensor(), AUTH, "404"),
        ("imagenet", imagenet_tensor()[:, :2], AUTH, "422"),
        ("imagenet", imagenet_tensor(), {}, "401"),
        ("imagenet", np.repeat(imagenet_tensor(), 7, axis=0), AUTH, "413"),
    ],
    ids=["unknown-model", "wrong-shape", "unauthorised", "too-large"],
)
def test_triton_http_errors_are_oip_errors(
    http_client: triton_http.InferenceServerClient,
    model: str,
    tensor: np.ndarray,
    headers: dict[str, str],
    status: str,
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        http_client.infer(model, [_http_input(tensor)], headers=dict(headers))
    assert caught.value.status() == status
    assert caught.value.message()  # the message of the OIP body {"error": "..."}


def test_triton_grpc_infer_metadata_and_readiness(
    grpc_client: triton_grpc.InferenceServerClient,
) -> None:
    result = grpc_client.infer("imagenet", [_grpc_input(imagenet_tensor())], headers=GRPC_AUTH)
    assert result.as_numpy("logits").argmax() == DAISY
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready("imagenet", "1")
    metadata = grpc_client.get_server_metadata(as_json=True)
    assert metadata["name"] == "inference-gateway"
    assert metadata["extensions"] == ["binary_tensor_data"]
    model = grpc_client.get_model_metadata("digits", as_json=True)
    assert model["versions"] == ["1"] and model["platform"] == "onnxruntime_onnx"


def test_triton_grpc_several_images_in_one_request(
    grpc_client: triton_grpc.InferenceServerClient,
) -> None:
    batch = np.concatenate([imagenet_tensor("flower.jpg"), imagenet_tensor("china.jpg")])
    result = grpc_client.infer("imagenet", [_grpc_input(batch)], headers=GRPC_AUTH)
    logits = result.as_numpy("logits")
    assert logits.shape == (2, 1000) and logits[0].argmax() == DAISY


@pytest.mark.parametrize(
    ("model", "tensor", "headers", "status"),
    [
        ("nope", imagenet_tensor(), GRPC_AUTH, "NOT_FOUND"),
        ("imagenet", imagenet_tensor()[:, :2], GRPC_AUTH, "INVALID_ARGUMENT"),
        ("imagenet", imagenet_tensor(), {}, "UNAUTHENTICATED"),
        ("imagenet", imagenet_tensor(), {"authorization": "Bearer wrong"}, "PERMISSION_DENIED"),
        ("imagenet", np.repeat(imagenet_tensor(), 7, axis=0), GRPC_AUTH, "RESOURCE_EXHAUSTED"),
    ],
    ids=["unknown-model", "wrong-shape", "unauthorised", "wrong-token", "too-large"],
)
def test_triton_grpc_errors_have_grpc_status_codes(
    grpc_client: triton_grpc.InferenceServerClient,
    model: str,
    tensor: np.ndarray,
    headers: dict[str, str],
    status: str,
) -> None:
    with pytest.raises(InferenceServerException) as caught:
        grpc_client.infer(model, [_grpc_input(tensor)], headers=dict(headers))
    assert caught.value.status() == f"StatusCode.{status}"
    assert TOKEN not in str(caught.value)


def test_grpc_calls_count_in_the_gateway_metrics(
    gateway: tuple[ServerProcess, str], grpc_client: triton_grpc.InferenceServerClient
) -> None:
    def count(code: str) -> float:
        text = httpx.get(gateway[0].url + "/metrics").text
        key = f'gateway_requests_total{{backend="local",code="{code}",service="digits"}}'
        lines = [line for line in text.splitlines() if line.startswith(key)]
        return float(lines[0].split()[-1]) if lines else 0.0

    before_ok, before_denied = count("200"), count("401")
    rows = np.zeros((3, 64), dtype=np.float32)
    digits_input = triton_grpc.InferInput("input", [3, 64], "FP32")
    digits_input.set_data_from_numpy(rows)
    grpc_client.infer("digits", [digits_input], headers=GRPC_AUTH)
    with pytest.raises(InferenceServerException):
        grpc_client.infer("digits", [digits_input])
    assert count("200") == before_ok + 1
    assert count("401") == before_denied + 1


def test_kserve_rest_and_grpc_clients(gateway: tuple[ServerProcess, str], tmp_path: Path) -> None:
    server, target = gateway
    python = ROOT / ".venv-kserve" / "bin" / "python"
    assert python.exists(), "KServe's environment is missing: make .venv-kserve/.installed"
    tensor = tmp_path / "flower.npy"
    np.save(tensor, imagenet_tensor())
    script = str(Path(__file__).with_name("kserve_client.py"))
    done = subprocess.run(
        [str(python), script, server.url, target, TOKEN, str(tensor)],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    found = orjson.loads(done.stdout.splitlines()[-1])
    assert found["rest"] == {
        "argmax": DAISY,
        "model_ready": True,
        "unknown_model": [404, True],
        "wrong_shape": [422, True],
        "unauthorised": [401, True],
    }
    assert found["grpc"] == {
        "argmax": DAISY,
        "server_ready": True,
        "model_ready": True,
        "unknown_model": "NOT_FOUND",
        "wrong_shape": "INVALID_ARGUMENT",
        "unauthorised": "UNAUTHENTICATED",
    }
