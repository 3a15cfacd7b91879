"""ModelService: the model, its pre/post-processing and its batcher, behind two async calls.

``predict`` takes encoded images and answers top-k predictions per image (one bad image yields
its own error, the others still answer); ``infer`` runs raw tensors (Open Inference Protocol).
Both go through the same batcher, so they share the inference slots fairly.

On the CPU an image crosses to a worker thread once: the inference thread that runs its batch
also decodes it before the run and picks its top-k after, so the event loop only reads bodies and
writes JSON, and a lone request makes one thread hop, not three. On a GPU one inference slot runs
the batches and the CPU cores would idle behind it, so images are decoded side by side in a pool
of their own (a thread per core) before they queue: the next batch is decoded while the GPU
runs this one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import numpy as np

from runtimes.errors import InvalidInput, ServingError
from runtimes.onnx.batcher import Batcher, BatchObserver
from runtimes.onnx.calibrate import best_batch_size
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.cores import usable_cores
from runtimes.onnx.model import OnnxModel
from runtimes.onnx.postprocess import Postprocessor, Prediction, pick_output, read_labels
from runtimes.onnx.preprocess import Preprocessor

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class ImageRequest:
    """One encoded image and how many classes to answer; images batch together.

    ``sample``: the image already decoded (the GPU's decoding pool), else the batch decodes it."""

    data: bytes
    top_k: int
    sample: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class TensorRequest:
    """One raw inference request; it runs alone, as sent."""

    feeds: Mapping[str, np.ndarray]
    outputs: Sequence[str] | None


Work = ImageRequest | TensorRequest
#: an image's top-k (or why it failed), or a tensor request's outputs
Result = list[Prediction] | ServingError | list[np.ndarray]


def _batch_key(work: Work) -> object:
    return "images" if isinstance(work, ImageRequest) else work


class ModelService:
    """Everything that runs one loaded model; built once the model is loaded."""

    def __init__(
        self,
        settings: RuntimeSettings,
        model: OnnxModel,
        *,
        slots: int | None = None,
        observer: BatchObserver | None = None,
    ) -> None:
        self.settings = settings
        self.model = model
        self.label = settings.model_label or settings.model_path.stem
        self.preprocessor = Preprocessor(settings.preprocess, max_pixels=settings.max_pixels)
        self.postprocessor = Postprocessor(settings.postprocess, read_labels(settings.labels_path))
        self.score_output = pick_output(settings.postprocess, model.outputs)
        self._input = model.input()
        batching = settings.batching
        max_batch = batching.max_batch_size if batching.enabled else 1
        if self._input.shape and self._input.shape[0] > 0:  # fixed batch dimension
            max_batch = min(max_batch, self._input.shape[0])
        cores = usable_cores()
        on_cpu = model.provider == "CPUExecutionProvider"
        self.slots = slots or (cores if on_cpu else 1)
        # a decoding thread per usable core (cores.py), not per core the service declares: on an
        # H200 host (16 cores, no quota) imagenet with 16 served 666-755 images/s at 16 and 64
        # clients, with 2 (its cpu) 544-597, the GPU waiting (benchmarks/results/batching-gpu.md)
        self._decoders = None if on_cpu else ThreadPoolExecutor(cores, thread_name_prefix="decode")
        if not on_cpu:
            model.fix_batches(max_batch)
        self.batcher: Batcher[Work, Result] = Batcher(
            self._run,
            max_batch_size=max_batch,
            max_latency_ms=batching.max_latency_ms,
            max_queue=batching.max_queue,
            slots=self.slots,
            observer=observer,
            batch_key=_batch_key,
            # on a GPU the loop keeps handing decoded images over while a batch runs
            lone_on_loop_ms=settings.lone_on_loop_ms if on_cpu else 0.0,
        )

    def warm_up(self, *, exclusive: bool = True) -> None:
        """Blocking: one run on a blank sample, so the first request pays no first-run cost.

        On a GPU, one run per fixed batch size (``fixed.py``): the first run of a session picks
        its convolution kernels (cuDNN's search), which must not happen under load."""
        blank = np.zeros(self.preprocessor.sample_shape, dtype=np.float32)
        for size in self.model.batch_sizes:
            self._scores([blank] * size, exclusive)

    def fit_batch_size(self) -> dict[int, float]:
        """Blocking, on the CPU: batch no larger than pays (``calibrate.py``), measured on the
        session batches run in, with random samples. Returns the seconds per image measured at
        each size tried (nothing when there was nothing to fit)."""
        if self.model.provider != "CPUExecutionProvider" or self.batcher.max_batch_size == 1:
            return {}
        largest = self.batcher.max_batch_size
        sample = np.random.default_rng(0).random(self.preprocessor.sample_shape, dtype=np.float32)
        exclusive = self.slots == 1  # else batches run side by side, one core each
        best, per_image = best_batch_size(
            lambda size: self._scores([sample] * size, exclusive), largest
        )
        # the session's arena grew to the largest size tried: one run at the size kept sheds it
        self._scores([sample] * best, exclusive, release=True)
        self.batcher.max_batch_size = best
        costs = ", ".join(f"{size}: {cost * 1000:.3f}" for size, cost in per_image.items())
        log.info("batches of up to %d of %d on the CPU (ms per image by batch size: %s)",
                 best, largest, costs)  # fmt: skip
        return per_image

    def load_narrow(self) -> None:
        """Blocking: add the model's one-thread session (see ``OnnxModel.load_narrow``)."""
        started = time.perf_counter()
        self.model.load_narrow()
        self.warm_up(exclusive=False)
        log.info("one-thread session loaded in %.2f s", time.perf_counter() - started)

    async def start(self) -> None:
        """Start the batcher."""
        await self.batcher.start()

    async def aclose(self) -> None:
        """Answer everything queued, then stop the worker threads."""
        await self.batcher.aclose()
        if self._decoders is not None:
            self._decoders.shutdown(wait=True)

    async def predict(
        self, images: Sequence[bytes], top_k: int
    ) -> list[list[Prediction] | ServingError]:
        """Top-k predictions for each image, or that image's error, in input order."""
        return list(await asyncio.gather(*(self._predict_one(data, top_k) for data in images)))

    async def _predict_one(self, data: bytes, top_k: int) -> list[Prediction] | ServingError:
        try:
            answer = await self.batcher.submit(await self._image_request(data, top_k))
        except ServingError as exc:
            return exc
        return cast("list[Prediction] | ServingError", answer)

    async def _image_request(self, data: bytes, top_k: int) -> ImageRequest:
        """The queued form of an image: decoded now in the decoding pool, if there is one."""
        if self._decoders is None:
            return ImageRequest(data, top_k)
        self.batcher.check_room()  # refuse before decoding, not after
        loop = asyncio.get_running_loop()
        sample = await loop.run_in_executor(self._decoders, self.preprocessor, data)
        return ImageRequest(data, top_k, sample)

    async def infer(
        self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None
    ) -> list[np.ndarray]:
        """Run the raw model on ``feeds``; returns ``outputs`` (default: all) in order."""
        result = await self.batcher.submit(TensorRequest(feeds, outputs))
        return cast("list[np.ndarray]", result)

    def _run(self, batch: Sequence[Work], exclusive: bool) -> list[Result]:
        """Blocking, in an inference thread: decode, one model run for the whole batch, top-k."""
        first = batch[0]
        if isinstance(first, TensorRequest):
            try:
                return [self.model.run(first.feeds, first.outputs, exclusive=exclusive)]
            except Exception as exc:  # ONNX Runtime says why the tensors do not fit
                raise InvalidInput(f"inference failed: {exc}") from None
        results: list[Result] = []
        arrays: list[np.ndarray] = []
        for work in batch:
            assert isinstance(work, ImageRequest)
            try:
                sample = work.sample
                arrays.append(self.preprocessor(work.data) if sample is None else sample)
                results.append([])  # filled in below
            except ServingError as exc:  # this image alone fails
                results.append(exc)
        if arrays:
            rows = iter(self._scores(arrays, exclusive))
            for index, work in enumerate(batch):
                if not isinstance(results[index], ServingError):
                    assert isinstance(work, ImageRequest)
                    results[index] = self.postprocessor.top_k(next(rows)[None], work.top_k)[0]
        return results

    def _scores(
        self, arrays: Sequence[np.ndarray], exclusive: bool, *, release: bool = False
    ) -> np.ndarray:
        """One model run on pre-processed samples: their score rows (``release``: see
        ``OnnxModel.run``)."""
        stacked = arrays[0][None] if len(arrays) == 1 else np.stack(arrays)
        stacked = stacked.astype(self._input.dtype, copy=False)
        scores = self.model.run(
            {self._input.name: stacked}, [self.score_output], exclusive=exclusive, release=release
        )
        return scores[0]


def load_service(
    settings: RuntimeSettings, *, observer: BatchObserver | None = None
) -> ModelService:
    """Blocking: load the model and build its service, logging how long it took."""
    started = time.perf_counter()
    model = OnnxModel.load(
        settings.model_path,
        threads=settings.threads,
        spin=settings.spin,
        cache_dir=settings.cache_dir,
    )
    service = ModelService(settings, model, observer=observer)
    service.warm_up()
    service.preprocessor.warm_up()
    log.info(
        "model %s loaded in %.2f s, provider %s, %d threads, %d inference slots",
        settings.name,
        time.perf_counter() - started,
        model.provider,
        model.threads,
        service.slots,
    )
    return service
