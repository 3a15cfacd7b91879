"""Open Inference Protocol v2: metadata, readiness, JSON and binary tensors, OIP error bodies."""

from __future__ import annotations

import httpx
import numpy as np
import orjson

from runtimes.onnx.preprocess import Preprocessor
from tests.runtimes.conftest import service_settings


def _tensor(flower: bytes) -> np.ndarray:
    settings = service_settings("imagenet")
    return Preprocessor(settings.preprocess, max_pixels=settings.max_pixels)(flower)[None]


async def test_metadata_and_ready(imagenet: httpx.AsyncClient) -> None:
    meta = (await imagenet.get("/v2/models/imagenet")).json()
    assert meta["name"] == "imagenet"
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 224, 224]}]
    assert meta["outputs"][0]["shape"] == [-1, 1000]
    assert meta["execution_provider"] == "CPUExecutionProvider"
    # on the CPU a short lone run may run on the event loop's thread (the setting's default)
    assert meta["parameters"]["lone_on_loop_ms"] == service_settings("imagenet").lone_on_loop_ms > 0
    assert (await imagenet.get("/v2/models/imagenet/ready")).status_code == 200
    assert (await imagenet.get("/v2/models/imagenet/versions/1/ready")).status_code == 200
    assert (await imagenet.get("/v2/health/live")).status_code == 200
    assert "binary_tensor_data" in (await imagenet.get("/v2")).json()["extensions"]


async def test_unknown_model_is_404_with_oip_error(imagenet: httpx.AsyncClient) -> None:
    for response in (
        await imagenet.get("/v2/models/resnet"),
        await imagenet.post("/v2/models/resnet/infer", json={"inputs": []}),
        await imagenet.get("/v2/models/imagenet/versions/7"),
    ):
        assert response.status_code == 404
        assert isinstance(response.json()["error"], str)


async def test_infer_matches_predict(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    tensor = _tensor(flower)
    request = {
        "id": "r1",
        "inputs": [
            {
                "name": "input",
                "shape": list(tensor.shape),
                "datatype": "FP32",
                "data": tensor.tolist(),
            }
        ],
    }
    response = await imagenet.post("/v2/models/imagenet/infer", json=request)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == "imagenet"
    assert answer["id"] == "r1"
    (output,) = answer["outputs"]
    assert output["name"] == "logits"
    assert output["shape"] == [1, 1000]
    assert output["datatype"] == "FP32"
    top1 = int(np.argmax(output["data"]))
    predicted = (await imagenet.post("/predict", content=flower)).json()["predictions"][0]
    assert predicted["class_id"] == top1
    assert predicted["label"] == "daisy"


async def test_infer_binary_tensors(imagenet: httpx.AsyncClient, flower: bytes) -> None:
    tensor = _tensor(flower)
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "shape": list(tensor.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": tensor.nbytes},
                }
            ],
            "outputs": [{"name": "logits", "parameters": {"binary_data": True}}],
        }
    )
    response = await imagenet.post(
        "/v2/models/imagenet/versions/1/infer",
        content=header + tensor.astype("<f4").tobytes(),
        headers={
            "inference-header-content-length": str(len(header)),
            "content-type": "application/octet-stream",
        },
    )
    assert response.status_code == 200, response.text
    json_length = int(response.headers["inference-header-content-length"])
    meta = orjson.loads(response.content[:json_length])
    (output,) = meta["outputs"]
    logits = np.frombuffer(response.content[json_length:], dtype="<f4")
    assert output["parameters"]["binary_data_size"] == logits.nbytes == 4000
    predicted = (await imagenet.post("/predict", content=flower)).json()["predictions"][0]
    assert int(np.argmax(logits)) == predicted["class_id"]


async def test_infer_digits_requested_outputs(digits: httpx.AsyncClient) -> None:
    from tests.support import digits_holdout

    x_test, y_test = digits_holdout()
    request = {
        "inputs": [
            {
                "name": "input",
                "shape": [4, 64],
                "datatype": "FP64",
                "data": x_test[:4].ravel().tolist(),
            }
        ],
        "outputs": [{"name": "label"}],
    }
    response = await digits.post("/v2/models/digits/infer", json=request)
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    assert output["name"] == "label"
    assert output["datatype"] == "INT64"
    assert output["data"] == [int(y) for y in y_test[:4]]


async def test_infer_errors(imagenet: httpx.AsyncClient) -> None:
    bad_shape = {
        "inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]
    }
    wrong_count = {
        "inputs": [{"name": "input", "shape": [1, 3, 224, 224], "datatype": "FP32", "data": [1]}]
    }
    unknown = {"inputs": [{"name": "image", "shape": [1], "datatype": "FP32", "data": [1]}]}
    bad_type = {"inputs": [{"name": "input", "shape": [1], "datatype": "COMPLEX", "data": [1]}]}
    for body in (bad_shape, wrong_count, unknown, bad_type):
        response = await imagenet.post("/v2/models/imagenet/infer", json=body)
        assert response.status_code == 422, body
        assert isinstance(response.json()["error"], str)
    response = await imagenet.post("/v2/models/imagenet/infer", content=b"{oops")
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
