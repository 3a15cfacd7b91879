"""A runtime process started with ``RUNTIME_TOKEN`` answers only callers that send it: over HTTP
(``X-Runtime-Token``, onnx and script runtimes) and over gRPC (``x-runtime-token`` metadata); its
health routes stay open (the gateway's readiness poll, Kubernetes probes)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from runtimes.auth import TOKEN_ENV, TOKEN_HEADER, TOKEN_METADATA, RequireToken
from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.oip.grpc_calls import method
from tests.runtimes.conftest import service_settings
from tests.support import free_port, python_command, server_process


@dataclass(frozen=True)
class Runtime:
    url: str
    grpc_target: str | None
    token: str


@pytest.fixture(scope="module")
def onnx_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    port, grpc_port, token = free_port(), free_port(), secrets.token_hex(32)
    digits = service_settings("digits")
    env = {
        "RUNTIME_NAME": digits.name,
        "RUNTIME_MODEL_PATH": str(digits.model_path),
        "RUNTIME_PREPROCESS": digits.preprocess.model_dump_json(),
        "RUNTIME_POSTPROCESS": digits.postprocess.model_dump_json(),
        "RUNTIME_THREADS": "1",
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": str(port),
        "RUNTIME_GRPC_PORT": str(grpc_port),
        TOKEN_ENV: token,
    }
    log = tmp_path_factory.mktemp("onnx") / "runtime.log"
    command = python_command("-m", "runtimes.onnx")
    with server_process(command, port=port, log_path=log, env=env) as server:
        yield Runtime(server.url, f"127.0.0.1:{grpc_port}", token)


@pytest.fixture(scope="module")
def script_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    port, token = free_port(), secrets.token_hex(32)
    env = {
        "RUNTIME_NAME": "echo",
        "RUNTIME_SCRIPT": 'cat "$INPUT_FILE_PATH" > "$TMP_OUTPUT_DIR/out"\n',
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": str(port),
        TOKEN_ENV: token,
    }
    log: Path = tmp_path_factory.mktemp("script") / "runtime.log"
    command = python_command("-m", "runtimes.script")
    with server_process(command, port=port, log_path=log, env=env) as server:
        yield Runtime(server.url, None, token)


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready"])
def test_health_routes_need_no_token(onnx_runtime: Runtime, path: str) -> None:
    assert httpx.get(onnx_runtime.url + path).status_code == 200


@pytest.mark.parametrize("token", [None, "", "0" * 64, "wrong"])
def test_onnx_http_without_the_token_is_401_in_the_oip_shape(
    onnx_runtime: Runtime, token: str | None
) -> None:
    headers = {} if token is None else {TOKEN_HEADER: token}
    response = httpx.get(onnx_runtime.url + "/v2/models/digits", headers=headers)
    assert response.status_code == 401
    message = response.json()["error"]
    assert isinstance(message, str) and TOKEN_HEADER in message
    assert onnx_runtime.token not in response.text


def test_onnx_predict_without_the_token_is_401_in_the_runtime_shape(onnx_runtime: Runtime) -> None:
    response = httpx.post(onnx_runtime.url + "/predict", content=b"x")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_onnx_http_with_the_token_is_answered(onnx_runtime: Runtime) -> None:
    response = httpx.get(
        onnx_runtime.url + "/v2/models/digits", headers={TOKEN_HEADER: onnx_runtime.token}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "digits"


async def _grpc_metadata(runtime: Runtime, token: str | None) -> pb.ModelMetadataResponse:
    assert runtime.grpc_target is not None
    metadata = None if token is None else ((TOKEN_METADATA, token),)
    async with grpc.aio.insecure_channel(runtime.grpc_target) as channel:
        call = channel.unary_unary(
            method("ModelMetadata"),
            request_serializer=pb.ModelMetadataRequest.SerializeToString,
            response_deserializer=pb.ModelMetadataResponse.FromString,
        )
        answer: pb.ModelMetadataResponse = await call(
            pb.ModelMetadataRequest(name="digits"), metadata=metadata, timeout=30
        )
        return answer


@pytest.mark.parametrize("token", [None, "wrong"])
async def test_grpc_without_the_token_is_unauthenticated(
    onnx_runtime: Runtime, token: str | None
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _grpc_metadata(onnx_runtime, token)
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_grpc_with_the_token_is_answered(onnx_runtime: Runtime) -> None:
    assert (await _grpc_metadata(onnx_runtime, onnx_runtime.token)).name == "digits"


async def test_grpc_health_needs_no_token(onnx_runtime: Runtime) -> None:
    assert onnx_runtime.grpc_target is not None
    async with grpc.aio.insecure_channel(onnx_runtime.grpc_target) as channel:
        call = channel.unary_unary(
            method("ServerReady"),
            request_serializer=pb.ServerReadyRequest.SerializeToString,
            response_deserializer=pb.ServerReadyResponse.FromString,
        )
        assert (await call(pb.ServerReadyRequest(), timeout=30)).ready


def test_script_runtime_without_the_token_is_401(script_runtime: Runtime) -> None:
    response = httpx.post(script_runtime.url + "/run", content=b"hello")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_script_runtime_with_the_token_runs_the_script(script_runtime: Runtime) -> None:
    response = httpx.post(
        script_runtime.url + "/run", content=b"hello", headers={TOKEN_HEADER: script_runtime.token}
    )
    assert response.status_code == 200, response.text
    assert response.json()["returncode"] == 0


def test_script_runtime_health_needs_no_token(script_runtime: Runtime) -> None:
    assert httpx.get(script_runtime.url + "/v2/health/live").status_code == 200


async def test_a_websocket_without_the_token_is_closed_with_policy_violation() -> None:
    reached: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    guard = RequireToken(app, token="t" * 64)
    scope = {"type": "websocket", "path": "/ws", "headers": [(b"x-runtime-token", b"forged")]}
    await guard(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}] and not reached
    await guard({**scope, "headers": [(b"x-runtime-token", b"t" * 64)]}, receive, send)
    assert reached == ["/ws"]
