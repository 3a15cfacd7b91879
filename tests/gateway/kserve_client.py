"""KServe's own clients, unchanged, against a gateway: prints what they got as one JSON line.

``python -m tests.gateway.kserve_client HTTP_URL GRPC_TARGET TOKEN``. It runs in a process of its
own: KServe and tritonclient both register the protocol's ``inference.*`` messages in protobuf's
default descriptor pool, so they cannot be imported into one process (the pytest one has
tritonclient).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
from kserve import (
    InferenceGRPCClient,
    InferenceRESTClient,
    InferInput,
    InferRequest,
    RESTConfig,
)

from tests.oip_inputs import imagenet_tensor


def _request(tensor: np.ndarray, model: str = "imagenet") -> InferRequest:
    infer_input = InferInput("input", list(tensor.shape), "FP32")
    infer_input.set_data_from_numpy(tensor, binary_data=True)
    return InferRequest(model_name=model, infer_inputs=[infer_input])


async def _rest(url: str, headers: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        answer = await client.infer(url, _request(imagenet_tensor()), "imagenet", headers=headers)
        found["argmax"] = int(answer.outputs[0].as_numpy().argmax())
        found["model_ready"] = await client.is_model_ready(url, "imagenet", headers=headers)
        for case, request, sent in (
            ("unknown_model", _request(imagenet_tensor(), "nope"), headers),
            ("wrong_shape", _request(imagenet_tensor()[:, :2]), headers),
            ("unauthorised", _request(imagenet_tensor()), {}),
        ):
            try:
                await client.infer(url, request, request.model_name, headers=dict(sent))
                found[case] = None
            except httpx.HTTPStatusError as exc:
                body = orjson.loads(exc.response.content)
                found[case] = [exc.response.status_code, isinstance(body["error"], str)]
    finally:
        await client.close()
    return found


async def _grpc(target: str, metadata: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    async with InferenceGRPCClient(target, retries=0) as client:
        answer = await client.infer(_request(imagenet_tensor()), headers=metadata)
        found["argmax"] = int(answer.outputs[0].as_numpy().argmax())
        found["server_ready"] = await client.is_server_ready(headers=metadata)
        found["model_ready"] = await client.is_model_ready("imagenet", headers=metadata)
        for case, request, sent in (
            ("unknown_model", _request(imagenet_tensor(), "nope"), metadata),
            ("wrong_shape", _request(imagenet_tensor()[:, :2]), metadata),
            ("unauthorised", _request(imagenet_tensor()), ()),
        ):
            try:
                await client.infer(request, headers=sent)
                found[case] = None
            except grpc.aio.AioRpcError as exc:
                found[case] = exc.code().name
    return found


async def main(url: str, target: str, token: str) -> None:
    rest = await _rest(url, {"Authorization": f"Bearer {token}"})
    grpc_found = await _grpc(target, (("authorization", f"Bearer {token}"),))
    sys.stdout.write(orjson.dumps({"rest": rest, "grpc": grpc_found}).decode() + "\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
