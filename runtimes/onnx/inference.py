"""ModelService: the model, its pre/post-processing and its batcher, behind two async calls.

``predict`` takes encoded images and answers top-k predictions per image (one bad image yields
its own error, the others still answer); ``infer`` runs raw tensors (Open Inference Protocol).
Both go through the same batcher, so they share the inference slots fairly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from runtimes.onnx.batcher import Batcher, BatchObserver
from runtimes.onnx.config import RuntimeSettings
from runtimes.onnx.errors import InvalidInput, ServingError
from runtimes.onnx.model import OnnxModel, usable_cores
from runtimes.onnx.postprocess import Postprocessor, Prediction, pick_output, read_labels
from runtimes.onnx.preprocess import Preprocessor

log = logging.getLogger(__name__)

#: images smaller than this decode on the event loop: a thread hop would cost more
_INLINE_DECODE_BYTES = 4096


@dataclass(frozen=True, eq=False)
class Sample:
    """One pre-processed image; samples batch together."""

    array: np.ndarray


@dataclass(frozen=True, eq=False)
class TensorRequest:
    """One raw inference request; it runs alone, as sent."""

    feeds: Mapping[str, np.ndarray]
    outputs: Sequence[str] | None


Work = Sample | TensorRequest
Result = np.ndarray | list[np.ndarray]


def _batch_key(work: Work) -> object:
    return "samples" if isinstance(work, Sample) else work


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
        self.slots = slots or (cores if model.provider == "CPUExecutionProvider" else 1)
        self.batcher: Batcher[Work, Result] = Batcher(
            self._run,
            max_batch_size=max_batch,
            max_latency_ms=batching.max_latency_ms,
            max_queue=batching.max_queue,
            slots=self.slots,
            observer=observer,
            batch_key=_batch_key,
        )
        self._decoder = ThreadPoolExecutor(cores, thread_name_prefix="decode")

    def warm_up(self, *, exclusive: bool = True) -> None:
        """Blocking: one run on a blank sample, so the first request pays no first-run cost."""
        blank = np.zeros(self.preprocessor.sample_shape, dtype=np.float32)
        self._run([Sample(blank)], exclusive)

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
        self._decoder.shutdown(wait=True)

    async def predict(
        self, images: Sequence[bytes], top_k: int
    ) -> list[list[Prediction] | ServingError]:
        """Top-k predictions for each image, or that image's error, in input order."""
        return list(await asyncio.gather(*(self._predict_one(data, top_k) for data in images)))

    async def _predict_one(self, data: bytes, top_k: int) -> list[Prediction] | ServingError:
        try:
            if len(data) <= _INLINE_DECODE_BYTES:
                array = self.preprocessor(data)
            else:
                loop = asyncio.get_running_loop()
                array = await loop.run_in_executor(self._decoder, self.preprocessor, data)
            row = await self.batcher.submit(Sample(array))
            assert isinstance(row, np.ndarray)
            return self.postprocessor.top_k(row[None], top_k)[0]
        except ServingError as exc:
            return exc

    async def infer(
        self, feeds: Mapping[str, np.ndarray], outputs: Sequence[str] | None
    ) -> list[np.ndarray]:
        """Run the raw model on ``feeds``; returns ``outputs`` (default: all) in order."""
        result = await self.batcher.submit(TensorRequest(feeds, outputs))
        assert isinstance(result, list)
        return result

    def _run(self, batch: Sequence[Work], exclusive: bool) -> list[Result]:
        """Blocking, in an inference thread: one model run for the whole batch."""
        first = batch[0]
        if isinstance(first, TensorRequest):
            try:
                return [self.model.run(first.feeds, first.outputs, exclusive=exclusive)]
            except Exception as exc:  # ONNX Runtime says why the tensors do not fit
                raise InvalidInput(f"inference failed: {exc}") from None
        arrays = [w.array for w in batch if isinstance(w, Sample)]
        stacked = np.stack(arrays).astype(self._input.dtype, copy=False)
        scores = self.model.run(
            {self._input.name: stacked}, [self.score_output], exclusive=exclusive
        )
        return list(scores[0])


def load_service(
    settings: RuntimeSettings, *, observer: BatchObserver | None = None
) -> ModelService:
    """Blocking: load the model and build its service, logging how long it took."""
    started = time.perf_counter()
    model = OnnxModel.load(settings.model_path, threads=settings.threads)
    service = ModelService(settings, model, observer=observer)
    service.warm_up()
    log.info(
        "model %s loaded in %.2f s, provider %s, %d threads, %d inference slots",
        settings.name,
        time.perf_counter() - started,
        model.provider,
        model.threads,
        service.slots,
    )
    return service
