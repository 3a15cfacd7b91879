"""KServe's own clients, unchanged, against a gateway: prints what they got as one JSON line.

``.venv-kserve/bin/python tests/gateway/kserve_client.py HTTP_URL GRPC_TARGET TOKEN TENSOR.npy``
(the flower, preprocessed by the test). It runs in KServe's own environment (see
``tests/requirements-kserve.txt``) and imports nothing of this project.
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


def _request(tensor: np.ndarray, model: str = "imagenet") -> InferRequest:
    infer_input = InferInput("input", list(tensor.shape), "FP32")
    infer_input.set_data_from_numpy(tensor, binary_data=True)
    return InferRequest(model_name=model, infer_inputs=[infer_input])


def _cases(flower: np.ndarray) -> list[tuple[str, InferRequest, bool]]:
    """(case, request, with the token) for each error the protocol must answer."""
    return [
        ("unknown_model", _request(flower, "nope"), True),
        ("wrong_shape", _request(flower[:, :2]), True),
        ("unauthorised", _request(flower), False),
    ]


async def _rest(url: str, token: str, flower: np.ndarray) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    found: dict[str, Any] = {}
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        answer = await client.infer(url, _request(flower), "imagenet", headers=dict(headers))
        found["argmax"] = int(answer.outputs[0].as_numpy().argmax())
        found["model_ready"] = await client.is_model_ready(url, "imagenet", headers=headers)
        for case, request, authorised in _cases(flower):
            sent = dict(headers) if authorised else {}
            try:
                await client.infer(url, request, request.model_name, headers=sent)
                found[case] = None
            except httpx.HTTPStatusError as exc:
                body = orjson.loads(exc.response.content)
                found[case] = [exc.response.status_code, isinstance(body["error"], str)]
    finally:
        await client.close()
    return found


async def _grpc(target: str, token: str, flower: np.ndarray) -> dict[str, Any]:
    metadata = (("authorization", f"Bearer {token}"),)
    found: dict[str, Any] = {}
    async with InferenceGRPCClient(target, retries=0) as client:
        answer = await client.infer(_request(flower), headers=metadata)
        found["argmax"] = int(answer.outputs[0].as_numpy().argmax())
        found["server_ready"] = await client.is_server_ready(headers=metadata)
        found["model_ready"] = await client.is_model_ready("imagenet", headers=metadata)
        for case, request, authorised in _cases(flower):
            try:
                await client.infer(request, headers=metadata if authorised else ())
                found[case] = None
            except grpc.aio.AioRpcError as exc:
                found[case] = exc.code().name
    return found


async def main(url: str, target: str, token: str, tensor: str) -> None:
    flower = np.load(tensor)
    rest = await _rest(url, token, flower)
    over_grpc = await _grpc(target, token, flower)
    sys.stdout.write(orjson.dumps({"rest": rest, "grpc": over_grpc}).decode() + "\n")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
