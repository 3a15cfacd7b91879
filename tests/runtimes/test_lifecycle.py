"""Start-up and shutdown: readiness before the model loads, metrics, a real runtime process."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import httpx
import orjson
from prometheus_client import CollectorRegistry

from runtimes.onnx.app import create_app
from runtimes.onnx.batcher import BatchObserver
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.inference import ModelService, load_service
from runtimes.onnx.model import OnnxModel
from tests.runtimes.conftest import sample_jpeg, service_settings, wait_ready
from tests.support import digit_png, digits_holdout, free_port, server_process, top_labels


async def test_not_ready_until_loaded() -> None:
    release = threading.Event()

    def slow_loader(settings: RuntimeSettings, observer: BatchObserver) -> ModelService:
        release.wait(10)
        return load_service(settings, observer=observer)

    app = create_app(service_settings("digits"), loader=slow_loader)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        assert (await client.get("/v2/health/live")).status_code == 200
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 503
        assert isinstance(ready.json()["error"], str)
        assert (await client.get("/v2/models/digits/ready")).status_code == 503
        predict = await client.post("/predict", content=b"x", headers={"content-type": "image/png"})
        assert predict.status_code == 503
        assert predict.json()["error"]["code"] == "not_ready"
        assert int(predict.headers["retry-after"]) >= 1
        release.set()
        await wait_ready(client)
        x_test, y_test = digits_holdout()
        png = digit_png(x_test[1], ink_on_paper=False)
        answer = await client.post("/predict", content=png, headers={"content-type": "image/png"})
        assert answer.json()["predictions"][0]["label"] == str(y_test[1])


async def test_failed_load_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    app = create_app(RuntimeSettings(name="broken", model_path=broken))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        for _ in range(200):
            if (await client.get("/v2/health/live")).status_code == 503:
                break
            await asyncio.sleep(0.01)
        ready = await client.get("/v2/health/ready")
        assert ready.status_code == 503
        assert "failed to load" in ready.json()["error"]


async def test_metrics_on_injected_registry() -> None:
    registry = CollectorRegistry()
    app = create_app(service_settings("digits"), registry=registry)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        await wait_ready(client)
        x_test, _ = digits_holdout()
        png = digit_png(x_test[0], ink_on_paper=True)
        for _ in range(3):
            await client.post("/predict", content=png, headers={"content-type": "image/png"})
        await client.post("/predict", content=png, headers={"content-type": "text/csv"})
        text = (await client.get("/metrics")).text
    assert registry.get_sample_value("runtime_batch_size_count", {"service": "digits"}) == 3
    assert (
        registry.get_sample_value(
            "runtime_requests_total", {"service": "digits", "route": "predict", "code": "200"}
        )
        == 3
    )
    assert (
        registry.get_sample_value(
            "runtime_requests_total", {"service": "digits", "route": "predict", "code": "415"}
        )
        == 1
    )
    for name in ("runtime_queue_duration_seconds", "runtime_inference_duration_seconds"):
        assert f"{name}_bucket" in text


def test_real_process(tmp_path: Path) -> None:
    """``python -m runtimes.onnx`` configured the way the gateway's local backend does it."""
    settings = service_settings("imagenet")
    port = free_port()
    env = {
        "RUNTIME_NAME": settings.name,
        "RUNTIME_MODEL_PATH": str(settings.model_path),
        "RUNTIME_LABELS_PATH": str(settings.labels_path),
        "RUNTIME_PREPROCESS": settings.preprocess.model_dump_json(),
        "RUNTIME_POSTPROCESS": settings.postprocess.model_dump_json(),
        "RUNTIME_BATCHING": settings.batching.model_dump_json(),
        "RUNTIME_HOST": "127.0.0.1",
        "RUNTIME_PORT": "1",  # overridden by --port
        "RUNTIME_MAX_BODY_BYTES": "1000000",
    }
    command = [sys.executable, "-m", "runtimes.onnx", "--port", str(port)]
    flower = sample_jpeg("flower.jpg")
    with server_process(command, port=port, log_path=tmp_path / "runtime.log", env=env) as server:
        with httpx.Client(base_url=server.url) as client:
            response = client.post(
                "/predict", content=flower, headers={"content-type": "image/jpeg"}
            )
            assert response.status_code == 200
            assert "daisy" in top_labels(response.json())
            too_big = client.post("/predict", content=bytes(1_000_001))
            assert too_big.status_code == 413
            assert orjson.loads(too_big.content)["error"]["code"] == "payload_too_large"
            again = client.post("/predict", content=flower, headers={"content-type": "image/jpeg"})
            assert again.status_code == 200
            # the model was preloaded before the app existed: its batches still reach /metrics
            metrics = client.get("/metrics").text
            assert 'runtime_batch_size_count{service="imagenet"} 2.0' in metrics
    log = server.log()
    assert "model imagenet loaded in" in log
    assert "CPUExecutionProvider" in log


async def test_the_one_thread_session_comes_after_the_first_batch() -> None:
    """It would take the cores from the first requests: it loads once the first batch ran."""
    loaded: list[ModelService] = []

    def loader(settings: RuntimeSettings, observer: BatchObserver) -> ModelService:
        cpu = ["CPUExecutionProvider"]  # two slots, a CPU session: on any machine
        model = OnnxModel.load(settings.model_path, threads=2, available=cpu)
        loaded.append(ModelService(settings, model, slots=2, observer=observer))
        return loaded[0]

    registry = CollectorRegistry()
    app = create_app(service_settings("imagenet"), registry=registry, loader=loader)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        await wait_ready(client)
        [service] = loaded
        flower = sample_jpeg("flower.jpg")
        answer = await client.post(
            "/predict", content=flower, headers={"content-type": "image/jpeg"}
        )
        assert answer.status_code == 200
        # until it is loaded (each step yields to the loading thread); bounded by time, not by
        # a count of steps, which a loaded machine could run through before the load ends
        async with asyncio.timeout(60):
            while service.model.wants_narrow:
                await asyncio.to_thread(lambda: None)
    assert not service.model.wants_narrow
    assert registry.get_sample_value("runtime_batch_size_count", {"service": "imagenet"}) == 1
