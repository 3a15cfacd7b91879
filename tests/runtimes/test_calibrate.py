"""The CPU batch size fitted to the model: the largest batch as cheap per image as the cheapest."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from prometheus_client import CollectorRegistry

from benchmarks.payloads import digits_payload
from runtimes.onnx.app import create_app
from runtimes.onnx.batcher import BatchObserver
from runtimes.onnx.calibrate import best_batch_size
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.inference import ModelService
from runtimes.onnx.model import OnnxModel
from tests.runtimes.conftest import MIB, blank, resident, service_settings, wait_ready


class Model:
    """A pretend model on a pretend clock: a batch of n costs n x ``per_image[n]`` ms; the first
    run of each size (the warm-up) costs 100 times that, which must not count."""

    def __init__(self, per_image: dict[int, float]) -> None:
        self.per_image, self.now, self.runs = per_image, 0.0, [0]
        self.seen: set[int] = set()

    def run(self, size: int) -> None:
        cost = size * self.per_image[size] / 1000
        self.now += cost if size in self.seen else 100 * cost
        self.seen.add(size)
        self.runs.append(size)

    def clock(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("per_image", "expected", "tried"),
    [
        # a CNN on one core: 4 is within 5 %; 8 is 13 % dearer than 1, so 16 never runs
        ({1: 4.6, 2: 4.7, 4: 4.8, 8: 5.2, 16: 5.9}, 4, [1, 2, 4, 8]),
        # a tiny model: the call's fixed cost; every size is tried
        ({1: 15.0, 2: 8.0, 4: 4.5, 8: 2.5, 16: 1.6}, 16, [1, 2, 4, 8, 16]),
        # nothing as cheap as one alone, but nothing 10 % dearer either
        ({1: 4.0, 2: 4.3, 4: 4.3, 8: 4.3, 16: 4.3}, 1, [1, 2, 4, 8, 16]),
        # the cheapest need not be the smallest
        ({1: 5.0, 2: 4.0, 4: 4.1, 8: 6.0, 16: 6.0}, 4, [1, 2, 4, 8]),
    ],
)
def test_the_largest_size_within_five_percent_of_the_cheapest(
    per_image: dict[int, float], expected: int, tried: list[int]
) -> None:
    model = Model(per_image)
    best, measured = best_batch_size(model.run, 16, clock=model.clock)
    assert best == expected
    assert measured == pytest.approx({n: per_image[n] / 1000 for n in tried})
    assert sorted(set(model.runs[1:])) == tried  # a size past the give-up never runs at all


def test_a_largest_batch_of_six_measures_its_fixed_sizes() -> None:
    model = Model({1: 3.0, 2: 2.0, 4: 1.5, 6: 1.4})
    best, measured = best_batch_size(model.run, 6, clock=model.clock)
    assert (best, sorted(measured)) == (6, [1, 2, 4, 6])


def test_the_real_digits_model_keeps_its_batches(caplog: pytest.LogCaptureFixture) -> None:
    """A call of the 8x8 MLP costs far more than a row: its batches stay as large as allowed."""
    settings = service_settings("digits")
    model = OnnxModel.load(settings.model_path, threads=1, available=["CPUExecutionProvider"])
    service = ModelService(settings, model, slots=1)
    largest = service.batcher.max_batch_size
    with caplog.at_level(logging.INFO, logger="runtimes.onnx.inference"):
        service.fit_batch_size()
    assert service.batcher.max_batch_size == largest > 1
    assert f"batches of up to {largest} of {largest} on the CPU" in caplog.text


def test_the_fit_sheds_the_memory_of_the_larger_batches_it_tried() -> None:
    """ONNX Runtime's arena keeps the memory of the largest run; the fit tries larger batches
    than it keeps, then gives that memory back: a run of the largest size tried grows it again."""
    settings = service_settings("imagenet")
    model = OnnxModel.load(settings.model_path, threads=1, available=["CPUExecutionProvider"])
    service = ModelService(settings, model, slots=1)
    service.warm_up()
    largest = max(service.fit_batch_size())
    assert largest > service.batcher.max_batch_size  # else there is nothing to shed
    before = resident()
    model.run(blank(model, largest))
    assert resident() - before > 20 * MIB


async def test_the_fit_comes_after_the_first_batch(caplog: pytest.LogCaptureFixture) -> None:
    """Measuring takes the cores for a moment: never before the first request is answered."""
    loaded: list[ModelService] = []

    def loader(settings: RuntimeSettings, observer: BatchObserver) -> ModelService:
        cpu = ["CPUExecutionProvider"]
        model = OnnxModel.load(settings.model_path, threads=1, available=cpu)
        loaded.append(ModelService(settings, model, slots=1, observer=observer))
        return loaded[0]

    app = create_app(service_settings("digits"), registry=CollectorRegistry(), loader=loader)
    transport = httpx.ASGITransport(app=app)
    with caplog.at_level(logging.INFO, logger="runtimes.onnx.inference"):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://runtime") as client,
        ):
            await wait_ready(client)
            assert "batches of up to" not in caplog.text
            answer = await client.post(
                "/predict", content=digits_payload().body, headers={"content-type": "image/png"}
            )
            assert answer.status_code == 200
            # until it is fitted (each step yields to the fitting thread); bounded by time, not
            # by a count of steps, which a loaded machine could run through before the fit ends
            async with asyncio.timeout(60):
                while "batches of up to" not in caplog.text:
                    await asyncio.to_thread(lambda: None)
            loaded[0].batcher.max_batch_size = 3  # what a fit could have chosen: reported as is
            metadata = (await client.get("/v2/models/digits")).json()
    assert "batches of up to" in caplog.text
    assert metadata["parameters"]["max_batch_size"] == 3
