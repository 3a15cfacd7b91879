"""A model on a GPU: one inference slot, images decoded side by side before they queue, and a
warm-up run for every batch size. No GPU here: the session runs on the CPU and reports the
CUDA provider, which is all that ModelService reads of it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from runtimes.errors import InvalidImage, Overloaded
from runtimes.onnx.inference import ModelService
from runtimes.onnx.model import OnnxModel
from tests.runtimes.conftest import service_settings
from tests.support import sample_jpeg

GPU = "CUDAExecutionProvider"


def gpu_service(**overrides: object) -> ModelService:
    settings = service_settings("imagenet", **overrides)
    model = OnnxModel.load(settings.model_path, threads=1, available=["CPUExecutionProvider"])
    model.provider = GPU  # what a CUDA session reports first; its runs stay on the CPU here
    return ModelService(settings, model)


async def test_images_are_decoded_in_their_own_pool_and_batched_on_one_slot() -> None:
    service = gpu_service()
    decoded_in: list[str] = []
    batches: list[int] = []
    decode, run = service.preprocessor.__call__, service.model.run

    def recording_decode(data: bytes) -> np.ndarray:
        decoded_in.append(threading.current_thread().name)
        return decode(data)

    def recording_run(
        feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None = None, **kw: bool
    ) -> list[np.ndarray]:
        batches.append(len(next(iter(feeds.values()))))
        assert threading.current_thread().name.startswith("inference")
        return run(feeds, outputs, **kw)

    service.preprocessor = recording_decode  # type: ignore[assignment]
    service.model.run = recording_run  # type: ignore[method-assign]
    await service.start()
    try:
        flower, china = sample_jpeg("flower.jpg"), sample_jpeg("china.jpg")
        answers = await service.predict([flower, b"not an image", china, flower] * 4, top_k=1)
    finally:
        await service.aclose()
    assert service.slots == 1
    assert len(decoded_in) == 16 and all(name.startswith("decode") for name in decoded_in)
    labels = [a if isinstance(a, InvalidImage) else a[0]["label"] for a in answers]
    for index in range(4):
        assert labels[4 * index] == labels[4 * index + 3] == "daisy"
        assert isinstance(labels[4 * index + 1], InvalidImage)
        assert isinstance(labels[4 * index + 2], str) and labels[4 * index + 2] != "daisy"
    assert sum(batches) == 12  # the 12 good images, in batches the single slot took as they came


async def test_a_full_queue_refuses_before_decoding() -> None:
    service = gpu_service(batching={"max_queue": 1, "max_batch_size": 1})
    started, release = threading.Event(), threading.Event()
    decoded: list[bytes] = []
    decode, run = service.preprocessor.__call__, service.model.run

    def recording_decode(data: bytes) -> np.ndarray:
        decoded.append(data)
        return decode(data)

    def held_run(feeds: Mapping[str, np.ndarray], *args: object, **kw: bool) -> list[np.ndarray]:
        started.set()
        release.wait(10)
        return run(feeds, *args, **kw)  # type: ignore[arg-type]

    service.preprocessor = recording_decode  # type: ignore[assignment]
    service.model.run = held_run  # type: ignore[method-assign]
    await service.start()
    flower = sample_jpeg("flower.jpg")
    try:
        first = asyncio.create_task(service.predict([flower], top_k=1))
        assert await asyncio.to_thread(started.wait, 10)  # the first runs (and holds the slot)
        second = asyncio.create_task(service.predict([flower], top_k=1))
        for _ in range(10_000):  # until the second is decoded and queued
            if service.batcher.queued:
                break
            await asyncio.to_thread(lambda: None)
        assert service.batcher.queued == 1
        [refused] = await service.predict([b"never decoded"], top_k=1)
        assert isinstance(refused, Overloaded)
        assert b"never decoded" not in decoded
        release.set()
        answers = [*(await first), *(await second)]
        assert [a[0]["label"] for a in answers if isinstance(a, list)] == ["daisy", "daisy"]
    finally:
        release.set()
        await service.aclose()


def warm_up_sizes(service: ModelService) -> list[int]:
    """The batch sizes of the runs ``service.warm_up()`` makes."""
    sizes: list[int] = []
    run = service.model.run

    def recording_run(feeds: Mapping[str, np.ndarray], *args: object, **kw: bool) -> list[Any]:
        sizes.append(len(next(iter(feeds.values()))))
        return run(feeds, *args, **kw)  # type: ignore[arg-type]

    service.model.run = recording_run  # type: ignore[method-assign]
    service.warm_up()
    return sizes


def test_the_warm_up_runs_every_fixed_batch_size_on_a_gpu_and_one_on_the_cpu() -> None:
    assert warm_up_sizes(gpu_service(batching={"max_batch_size": 6})) == [1, 2, 4, 6]
    settings = service_settings("imagenet", batching={"max_batch_size": 6})
    cpu = OnnxModel.load(settings.model_path, threads=1, available=["CPUExecutionProvider"])
    assert warm_up_sizes(ModelService(settings, cpu)) == [1]
