"""The gateway as users meet it: a real `gateway serve` process on loopback, real runtimes."""

from __future__ import annotations

import base64
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from tests.support import (
    CHINA_LABELS,
    DIGITS_YAML,
    IMAGENET_YAML,
    ServerProcess,
    digit_png,
    digits_holdout,
    gateway_process,
    sample_jpeg,
    top_labels,
)

BODY_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"GATEWAY_MAX_BODY_BYTES": str(BODY_LIMIT), "GATEWAY_RESTART_BACKOFF_MAX": "0.5"}
    folder = tmp_path_factory.mktemp("gateway")
    with gateway_process(folder, IMAGENET_YAML, DIGITS_YAML, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def client(gateway: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url, timeout=60) as http:
        yield http


def test_flower_raw_jpeg_is_a_daisy(client: httpx.Client) -> None:
    response = client.post(
        "/predict/imagenet",
        content=sample_jpeg("flower.jpg"),
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["service"] == "imagenet"
    assert answer["model"] == "efficientnet-lite0"
    assert len(answer["predictions"]) == 5
    assert "daisy" in top_labels(answer)
    scores = [p["score"] for p in answer["predictions"]]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1


def test_multipart_two_files_answer_in_order(client: httpx.Client) -> None:
    files = [
        ("file", ("china.jpg", sample_jpeg("china.jpg"), "image/jpeg")),
        ("file", ("flower.jpg", sample_jpeg("flower.jpg"), "image/jpeg")),
    ]
    response = client.post("/predict/imagenet", files=files, params={"top_k": 3})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["filename"] for r in results] == ["china.jpg", "flower.jpg"]
    assert all(len(r["predictions"]) == 3 for r in results)
    assert CHINA_LABELS & set(top_labels(results[0]))
    assert top_labels(results[1])[0] == "daisy"


@pytest.mark.parametrize("media", ["application/json", "application/vnd.example+json"])
def test_b64_json(client: httpx.Client, media: str) -> None:
    """Every JSON media type the runtime reads passes the gateway (one list, the runtime's)."""
    payload = {"instances": [{"b64": base64.b64encode(sample_jpeg("flower.jpg")).decode()}]}
    body = orjson.dumps(payload)
    response = client.post("/predict/imagenet", content=body, headers={"Content-Type": media})
    assert response.status_code == 200, response.text
    assert "daisy" in top_labels(response.json())


def test_digits_as_pngs_are_read_correctly(client: httpx.Client) -> None:
    x_test, y_test = digits_holdout()
    correct = 0
    for start in range(0, len(x_test), 32):
        files = [
            ("file", (f"{i}.png", digit_png(x_test[i], ink_on_paper=i % 2 == 0), "image/png"))
            for i in range(start, min(start + 32, len(x_test)))
        ]
        response = client.post("/predict/digits", files=files, params={"top_k": 1})
        assert response.status_code == 200, response.text
        for result in response.json()["results"]:
            index = int(result["filename"].removesuffix(".png"))
            correct += result["predictions"][0]["label"] == str(y_test[index])
    accuracy = correct / len(x_test)
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.3f}"


def test_oip_infer_on_a_preprocessed_tensor(client: httpx.Client) -> None:
    x_test, y_test = digits_holdout()
    rows = x_test[:8].astype("float32")
    payload = {
        "inputs": [
            {"name": "input", "shape": list(rows.shape), "datatype": "FP32", "data": rows.tolist()}
        ]
    }
    response = client.post("/v2/models/digits/infer", json=payload)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    labels = outputs["label"]["data"]
    assert sum(int(a) == int(b) for a, b in zip(labels, y_test[:8], strict=True)) >= 7
    assert outputs["probabilities"]["shape"] == [8, 10]
    metadata = client.get("/v2/models/digits")
    assert metadata.status_code == 200
    assert metadata.json()["name"] == "digits"


def test_unknown_service_is_404(client: httpx.Client) -> None:
    response = client.post("/predict/nope", content=b"x", headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "service_not_found"


def test_unknown_route_and_wrong_method_are_json(client: httpx.Client) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.get("/predict/imagenet")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    oip = client.post("/v2/models/nope/infer", json={"inputs": []})
    assert oip.status_code == 404 and isinstance(oip.json()["error"], str)


def test_the_runtimes_422_for_a_truncated_image_passes_through(client: httpx.Client) -> None:
    """One case through the gateway; the runtime's own tests cover every kind of bad image."""
    jpeg = sample_jpeg("flower.jpg")
    body = jpeg[: len(jpeg) // 2]
    response = client.post(
        "/predict/imagenet", content=body, headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_image"


def test_unsupported_content_type_is_415(client: httpx.Client) -> None:
    response = client.post(
        "/predict/imagenet", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_body_over_the_limit_is_413_and_the_next_request_is_answered(client: httpx.Client) -> None:
    response = client.post(
        "/predict/imagenet",
        content=b"\xff" * (BODY_LIMIT + 1),
        headers={"Content-Type": "image/jpeg"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    again = client.post(
        "/predict/imagenet",
        content=sample_jpeg("flower.jpg"),
        headers={"Content-Type": "image/jpeg"},
    )
    assert again.status_code == 200


def test_system_info_metrics_and_openapi(client: httpx.Client) -> None:
    info = client.get("/system/info").json()
    assert info["services"] == 2 and info["backend"] == "local"
    client.post("/predict/imagenet", content=b"junk", headers={"Content-Type": "image/png"})
    metrics = client.get("/metrics").text
    assert 'gateway_requests_total{backend="local",code="422",service="imagenet"}' in metrics
    assert "gateway_request_duration_seconds_bucket" in metrics
    spec = client.get("/openapi.json").json()
    assert "/predict/{service}" in spec["paths"]


def _runtime_pid(gateway: ServerProcess, service: str) -> int:
    for child in psutil.Process(gateway.proc.pid).children(recursive=True):
        try:
            if child.environ().get("RUNTIME_NAME") == service:
                return child.pid
        except psutil.Error:
            continue
    raise AssertionError(f"no runtime process for {service}")


def test_killed_runtime_gives_503_then_recovers(
    gateway: ServerProcess, client: httpx.Client
) -> None:
    png = digit_png(digits_holdout()[0][0], ink_on_paper=True)
    assert (
        client.post(
            "/predict/digits", content=png, headers={"Content-Type": "image/png"}
        ).status_code
        == 200
    )
    os.kill(_runtime_pid(gateway, "digits"), signal.SIGKILL)
    response = client.post("/predict/digits", content=png, headers={"Content-Type": "image/png"})
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = client.post(
            "/predict/digits", content=png, headers={"Content-Type": "image/png"}
        )
        if response.status_code == 200:
            break
        assert response.status_code == 503, response.text
        time.sleep(0.1)
    assert response.status_code == 200
    assert gateway.proc.poll() is None  # the gateway itself never went down
    state = client.get("/system/services/digits").json()
    assert state["state"] == "ready" and state["restarts"] >= 1


def test_runtime_logs_are_kept(gateway: ServerProcess, tmp_path: Path) -> None:
    data_dir = gateway.log_path.parent
    assert (data_dir / "logs" / "imagenet.log").stat().st_size > 0
