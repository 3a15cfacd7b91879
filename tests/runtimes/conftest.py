"""Fixtures for the ONNX runtime: settings from the real service definitions, in-process apps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest
import yaml
from starlette.applications import Starlette

from runtimes.onnx.app import create_app
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.model import OnnxModel
from tests import support

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "model_images"
MIB = 2**20


def resident() -> int:
    """This process's resident memory, bytes."""
    return int(psutil.Process().memory_info().rss)


def blank(model: OnnxModel, rows: int) -> dict[str, np.ndarray]:
    """Feeds of ``rows`` zero samples for ``model``'s first input."""
    shape = model.input().shape[1:]
    return {model.input().name: np.zeros((rows, *shape), dtype=np.float32)}


def service_settings(model: str, **overrides: Any) -> RuntimeSettings:
    """RuntimeSettings for ``model_images/<model>/service.yaml``, as the gateway would pass them."""
    folder = IMAGES / model
    service = yaml.safe_load((folder / "service.yaml").read_text())["services"][0]
    model_path = folder / service["model"]
    if not model_path.exists():
        pytest.fail(f"{model_path} is missing: run model_images/{model}/prepare.py first")
    values: dict[str, Any] = {
        "name": service["name"],
        "model_path": model_path,
        "labels_path": folder / service["labels"],
        "preprocess": service.get("preprocess", {}),
        "postprocess": service.get("postprocess", {}),
        "batching": service.get("batching", {}),
    }
    values.update(overrides)
    return RuntimeSettings(**values)


def sample_jpeg(name: str) -> bytes:
    """A real photo: the model image's sample file, else scikit-learn's copy of it."""
    path = IMAGES / "imagenet" / "samples" / name
    return path.read_bytes() if path.exists() else support.sample_jpeg(name)


async def wait_ready(client: httpx.AsyncClient, timeout: float = 30.0) -> None:
    """Poll readiness like the gateway does."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (await client.get("/v2/health/ready")).status_code != 200:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the runtime never became ready")
        await asyncio.sleep(0.01)


async def _serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
    ):
        await wait_ready(client)
        yield client


@pytest.fixture(scope="session")
def flower() -> bytes:
    return sample_jpeg("flower.jpg")


@pytest.fixture(scope="session")
def china() -> bytes:
    return sample_jpeg("china.jpg")


@pytest.fixture(scope="session")
async def imagenet() -> AsyncIterator[httpx.AsyncClient]:
    """An in-process imagenet runtime (small limits so the limit tests stay cheap)."""
    settings = service_settings("imagenet", max_body_bytes=4_000_000, max_files=4)
    async for client in _serve(create_app(settings)):
        yield client


@pytest.fixture(scope="session")
async def digits() -> AsyncIterator[httpx.AsyncClient]:
    """An in-process digits runtime."""
    settings = service_settings("digits", max_files=64)
    async for client in _serve(create_app(settings)):
        yield client
