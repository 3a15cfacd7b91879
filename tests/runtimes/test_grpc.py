"""The runtime's Open Inference Protocol over gRPC, in-process on a loopback port: typed and raw
tensors, requested outputs, and errors with their gRPC status codes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc.aio as triton_aio

from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.oip.grpc_calls import method
from runtimes.onnx.app import create_app
from tests.oip_inputs import DAISY, imagenet_tensor
from tests.runtimes.conftest import service_settings, wait_ready
from tests.support import digits_holdout, free_port


async def _runtime(model: str) -> AsyncIterator[str]:
    port = free_port()
    app = create_app(service_settings(model, host="127.0.0.1", grpc_port=port))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        await wait_ready(client)
        yield f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
async def digits_target() -> AsyncIterator[str]:
    async for target in _runtime("digits"):
        yield target


def _call(channel: grpc.aio.Channel, name: str, request: Any, response: Any) -> Any:
    return channel.unary_unary(
        method(name),
        request_serializer=request.SerializeToString,
        response_deserializer=response.FromString,
    )


async def test_typed_contents_in_raw_outputs_back(digits_target: str) -> None:
    x_test, y_test = digits_holdout()
    rows = x_test[:8].astype(np.float32)
    request = pb.ModelInferRequest(model_name="digits", model_version="1", id="t1")
    request.inputs.add(name="input", datatype="FP32", shape=rows.shape).contents.fp32_contents[
        :
    ] = rows.reshape(-1).tolist()
    request.outputs.add(name="label")
    async with grpc.aio.insecure_channel(digits_target) as channel:
        answer = await _call(channel, "ModelInfer", pb.ModelInferRequest, pb.ModelInferResponse)(
            request
        )
    assert answer.model_name == "digits" and answer.id == "t1"
    (output,) = answer.outputs
    assert (output.name, output.datatype, list(output.shape)) == ("label", "INT64", [8])
    labels = np.frombuffer(answer.raw_output_contents[0], dtype="<i8")
    assert (labels == y_test[:8]).sum() >= 7


async def test_triton_aio_client_gets_a_daisy_from_the_runtime() -> None:
    async for target in _runtime("imagenet"):
        client = triton_aio.InferenceServerClient(target)
        try:
            tensor = imagenet_tensor()
            infer_input = triton_aio.InferInput("input", list(tensor.shape), "FP32")
            infer_input.set_data_from_numpy(tensor)
            result = await client.infer("imagenet", [infer_input])
            assert result.as_numpy("logits").argmax() == DAISY
            assert await client.is_model_ready("imagenet", "1")
            metadata = await client.get_model_metadata("imagenet", as_json=True)
            assert metadata["inputs"][0]["shape"] == ["-1", "3", "224", "224"]  # int64 as JSON
        finally:
            await client.close()


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"model_version": "2"}, grpc.StatusCode.NOT_FOUND),
        ({"model_name": "nope"}, grpc.StatusCode.NOT_FOUND),
        ({"raw_input_contents": [b"\x00" * 256, b"\x00"]}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"raw_input_contents": [b"\x00" * 255]}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"raw_input_contents": [b"\x00" * 128]}, grpc.StatusCode.INVALID_ARGUMENT),
        ({"outputs": [pb.ModelInferRequest.InferRequestedOutputTensor(name="x")]},
         grpc.StatusCode.INVALID_ARGUMENT),
    ],
    ids=["version", "model", "raw-count", "raw-items", "raw-shape", "unknown-output"],
)  # fmt: skip
async def test_bad_requests_have_grpc_status_codes(
    digits_target: str, change: dict[str, Any], code: grpc.StatusCode
) -> None:
    fields: dict[str, Any] = {"model_name": "digits", "raw_input_contents": [b"\x00" * 256]}
    fields.update(change)
    request = pb.ModelInferRequest(**fields)
    request.inputs.add(name="input", datatype="FP32", shape=[1, 64])
    async with grpc.aio.insecure_channel(digits_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _call(channel, "ModelInfer", pb.ModelInferRequest, pb.ModelInferResponse)(request)
    assert caught.value.code() == code
    assert caught.value.details()


async def test_a_malformed_message_is_invalid_argument(digits_target: str) -> None:
    async with grpc.aio.insecure_channel(digits_target) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(method("ModelInfer"))(b"\xff\xff\xff\xff")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_taken_grpc_port_stops_the_start() -> None:
    """The model starts loading while gRPC starts; a port that cannot be bound still fails the
    start, and nothing is left loading."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        app = create_app(service_settings("digits", host="127.0.0.1", grpc_port=port))
        with pytest.raises(RuntimeError, match=str(port)):
            async with app.router.lifespan_context(app):
                pytest.fail("the runtime started on a taken gRPC port")
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "load-model"]
