"""Execution provider selection, on this machine's CPU-only ONNX Runtime with the real digits model.

The GPU image's promise is "CUDA when it can start, else the CPU with a warning"; without a GPU
here, the fallback is driven through ``OnnxModel.load(available=...)``: the providers this build
of ONNX Runtime claims to have, as onnxruntime-gpu on a machine without a usable GPU would.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from runtimes.onnx.app import create_app
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.model import OnnxModel, select_providers
from tests.images.repo import MODEL_IMAGES

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DIGITS = MODEL_IMAGES / "digits"


@pytest.fixture(scope="module")
def digits_model() -> Path:
    path = DIGITS / "models" / "digits-mlp.onnx"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make models` first")
    return path


def digits_settings(model: Path) -> RuntimeSettings:
    spec = yaml.safe_load((DIGITS / "service.yaml").read_text())["services"][0]
    return RuntimeSettings(
        name=spec["name"],
        model_path=model,
        labels_path=DIGITS / spec["labels"],
        preprocess=spec["preprocess"],
        postprocess=spec["postprocess"],
        batching=spec["batching"],
    )


async def serve(settings: RuntimeSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        for _ in range(3000):
            if (await client.get("/v2/health/ready")).status_code == 200:
                break
            await asyncio.sleep(0.01)
        yield client


async def test_the_runtime_reports_and_logs_the_cpu_provider(
    digits_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="runtimes.onnx"):
        async for client in serve(digits_settings(digits_model)):
            response = await client.get("/v2/models/digits")
    assert response.status_code == 200
    body = response.json()
    assert body["execution_provider"] == CPU
    assert body["parameters"]["execution_provider"] == CPU
    started = [r.getMessage() for r in caplog.records if "loaded in" in r.getMessage()]
    assert started and f"provider {CPU}" in started[0]


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        ({CPU}, [CPU]),
        ({CUDA, CPU}, [CUDA, CPU]),
        ({"TensorrtExecutionProvider", CUDA, CPU, "AzureExecutionProvider"}, [CUDA, CPU]),
        (set(), [CPU]),
    ],
)
def test_cuda_comes_first_when_present_and_cpu_is_always_last(
    available: set[str], expected: list[str]
) -> None:
    assert select_providers(available) == expected


def test_this_build_has_no_cuda_so_the_default_is_cpu(digits_model: Path) -> None:
    model = OnnxModel.load(digits_model, threads=1)
    assert model.provider == CPU


def run_digit(model: OnnxModel) -> np.ndarray:
    features = np.zeros((1, 64), dtype=np.float32)
    (probabilities,) = model.run({"input": features}, ["probabilities"])
    return probabilities


def test_cuda_that_does_not_start_falls_back_to_cpu_with_a_warning(
    digits_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ONNX Runtime drops a provider it cannot start (it only warns); the model says so."""
    with (
        caplog.at_level(logging.WARNING, logger="runtimes.onnx.model"),
        pytest.warns(UserWarning, match=CUDA),  # ONNX Runtime's own note
    ):
        model = OnnxModel.load(digits_model, threads=1, available={CUDA, CPU})
    assert model.provider == CPU
    assert run_digit(model).shape == (1, 10)
    (record,) = [r for r in caplog.records if r.name == "runtimes.onnx.model"]
    assert record.levelno == logging.WARNING
    assert f"{CUDA} did not start; falling back to the CPU" in record.getMessage()


def test_cuda_whose_session_fails_falls_back_to_cpu_with_a_warning(
    digits_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When creating the session with CUDA raises, the CPU session is made instead."""
    with caplog.at_level(logging.WARNING, logger="runtimes.onnx.model"), warnings.catch_warnings():
        warnings.simplefilter("error")  # ONNX Runtime's warning about CUDA now raises
        model = OnnxModel.load(digits_model, threads=1, available={CUDA, CPU})
    assert model.provider == CPU
    assert run_digit(model).shape == (1, 10)
    (record,) = [r for r in caplog.records if r.name == "runtimes.onnx.model"]
    assert record.levelno == logging.WARNING
    assert f"could not start {CUDA}" in record.getMessage()
    assert "falling back to the CPU" in record.getMessage()


@pytest.mark.parametrize("available", [{CPU}, {CUDA, CPU}])
def test_a_broken_model_is_an_error_not_a_fallback(tmp_path: Path, available: set[str]) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with warnings.catch_warnings(), pytest.raises(Exception, match="INVALID_PROTOBUF"):
        warnings.simplefilter("ignore")  # the CUDA note, when asked for
        OnnxModel.load(broken, threads=1, available=available)
