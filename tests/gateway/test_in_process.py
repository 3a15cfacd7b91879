"""Services served inside the gateway process (``in_process: true``): same answers, no runtime
process, no second HTTP exchange; a real `gateway serve` on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import yaml
from pydantic import ValidationError

from gateway.services import ServiceSpec
from tests.support import (
    DIGITS_YAML,
    IMAGENET_YAML,
    ServerProcess,
    digit_png,
    digits_holdout,
    gateway_process,
    sample_jpeg,
    top_labels,
)


def in_process_copy(source: Path, target: Path, **changes: object) -> Path:
    """``source``'s services with ``in_process: true``, absolute model paths and ``changes``."""
    services = yaml.safe_load(source.read_text())["services"]
    for service in services:
        service.update({"in_process": True, **changes})
        for key in ("model", "labels"):
            service[key] = str(source.parent / service[key])
    target.write_text(yaml.safe_dump({"services": services}))
    return target


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("in-process")
    files = [
        in_process_copy(IMAGENET_YAML, folder / "imagenet.yaml"),
        in_process_copy(DIGITS_YAML, folder / "digits.yaml"),
        # decoding the photo alone takes longer than this service's timeout
        in_process_copy(IMAGENET_YAML, folder / "hurried.yaml", name="hurried", timeout=0.001),
    ]
    with gateway_process(folder, *files, data_dir=folder / "data") as server:
        yield server


@pytest.fixture(scope="module")
def client(gateway: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60) as http:
        yield http


def test_no_runtime_process_is_started(gateway: ServerProcess, client: httpx.Client) -> None:
    assert client.get("/v2/health/ready").status_code == 200
    assert psutil.Process(gateway.proc.pid).children(recursive=True) == []


def test_flower_is_a_daisy(client: httpx.Client) -> None:
    response = client.post(
        "/predict/imagenet?top_k=3",
        content=sample_jpeg("flower.jpg"),
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert top_labels(response.json())[0] == "daisy"
    assert len(response.json()["predictions"]) == 3


def test_digits_answer_like_a_runtime_process(client: httpx.Client) -> None:
    x_test, y_test = digits_holdout()
    for index in range(5):
        png = digit_png(x_test[index], ink_on_paper=False)
        headers = {"Content-Type": "image/png"}
        response = client.post("/predict/digits", content=png, headers=headers)
        assert top_labels(response.json())[0] == str(y_test[index])


def test_a_bad_image_is_the_runtimes_422(client: httpx.Client) -> None:
    response = client.post(
        "/predict/imagenet", content=b"not an image", headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_image"


def test_open_inference_protocol_metadata_and_infer(client: httpx.Client) -> None:
    metadata = client.get("/v2/models/digits")
    assert metadata.status_code == 200
    assert metadata.json()["inputs"][0]["shape"] == [-1, 64]
    # the gateway's event loop serves every service: no run of this one ever holds it
    assert metadata.json()["parameters"]["lone_on_loop_ms"] == 0
    x_test, y_test = digits_holdout()
    body = {
        "inputs": [
            {"name": "input", "shape": [1, 64], "datatype": "FP32", "data": x_test[0].tolist()}
        ]
    }
    answer = client.post("/v2/models/digits/infer", json=body)
    assert answer.status_code == 200
    outputs = {o["name"]: o["data"] for o in answer.json()["outputs"]}
    assert outputs["label"] == [int(y_test[0])]


def test_past_its_timeout_a_request_is_504_and_the_gateway_goes_on(client: httpx.Client) -> None:
    flower = sample_jpeg("flower.jpg")
    headers = {"Content-Type": "image/jpeg"}
    for _ in range(3):
        late = client.post("/predict/hurried", content=flower, headers=headers)
        assert late.status_code == 504
        assert late.json()["error"]["code"] == "upstream_timeout"
    answer = client.post("/predict/imagenet", content=flower, headers=headers)
    assert top_labels(answer.json())[0] == "daisy"


def test_in_process_needs_an_onnx_service_on_the_local_backend() -> None:
    with pytest.raises(ValidationError, match="in_process"):
        ServiceSpec(name="s", runtime="script", script="echo", in_process=True)
    with pytest.raises(ValidationError, match="in_process"):
        ServiceSpec(name="m", model=Path("m.onnx"), backend="knative", in_process=True)
