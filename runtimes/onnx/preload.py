"""Preload: the model starts loading in a thread as soon as the settings are read.

``python -m runtimes.onnx`` starts it before it imports the web stack (Starlette, uvicorn, the
metrics client) and builds the app: ONNX Runtime builds its session and runs the warm-up with the
GIL released, so the load and those imports share the cores instead of following each other.
The app takes the loaded service through ``create_app``'s ``loader`` seam; the batcher reports
to the app's metrics from then on (nothing runs through it before).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from runtimes.onnx.config import RuntimeSettings

if TYPE_CHECKING:
    from runtimes.onnx.batcher import BatchObserver
    from runtimes.onnx.inference import ModelService


class _Forward:
    """A `BatchObserver` that passes each batch on to the one set later (or drops it)."""

    def __init__(self) -> None:
        self.target: BatchObserver | None = None

    def observe_batch(self, size: int, queue_seconds: Sequence[float], run_seconds: float) -> None:
        if self.target is not None:
            self.target.observe_batch(size, queue_seconds, run_seconds)


def _load(settings: RuntimeSettings, observer: _Forward) -> ModelService:
    # imported in the thread: numpy and ONNX Runtime load here, not before the thread starts
    from runtimes.onnx.inference import load_service

    return load_service(settings, observer=observer)


class Preload:
    """The model of ``settings``, loading in a thread from construction on."""

    def __init__(self, settings: RuntimeSettings) -> None:
        self._observer = _Forward()
        executor = ThreadPoolExecutor(1, thread_name_prefix="preload")
        self._future: Future[ModelService] = executor.submit(_load, settings, self._observer)
        executor.shutdown(wait=False)  # the thread ends once the model is loaded

    def loader(self, settings: RuntimeSettings, observer: BatchObserver) -> ModelService:
        """``create_app``'s loader: blocking, the preloaded service (it raises what the load
        raised), its batches reported to ``observer``."""
        self._observer.target = observer
        return self._future.result()
