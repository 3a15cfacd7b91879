"""OnnxModel: one ONNX Runtime session, loaded once, and what the server needs to know about it."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from runtimes.onnx.cores import usable_cores
from runtimes.onnx.fixed import FixedBatches, batch_of, batch_sizes
from runtimes.onnx.optimized import open_cached
from runtimes.onnx.tensors import OIP_TO_NUMPY, ORT_TO_OIP

log = logging.getLogger(__name__)

#: The OIP platform name of every model this runtime serves.
PLATFORM = "onnxruntime_onnx"

_CPU = "CPUExecutionProvider"
_PREFERRED_PROVIDERS = ("CUDAExecutionProvider", _CPU)

#: run options that shrink the CPU arena at the end of a run (``OnnxModel.run(release=True)``)
_RELEASE = ort.RunOptions()
_RELEASE.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, OIP datatype and shape (-1 for a dynamic dimension)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    @property
    def dtype(self) -> np.dtype[Any]:
        """The numpy dtype to feed (object for BYTES)."""
        return OIP_TO_NUMPY.get(self.datatype, np.dtype(object))


def _tensor_info(arg: Any) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorInfo(arg.name, ORT_TO_OIP.get(arg.type, "BYTES"), shape)


class OnnxModel:
    """A loaded ONNX model; ``run`` is thread-safe and blocking (call it from a worker thread)."""

    def __init__(
        self,
        session: Any,
        path: Path,
        threads: int,
        *,
        spin: bool = False,
        cache_dir: Path | None = None,
    ) -> None:
        self._session = session
        self._narrow: Any = None
        self._fixed: FixedBatches | None = None
        self.path = path
        self.cache_dir = cache_dir
        self.threads = threads
        self.spin = spin
        self.provider: str = session.get_providers()[0]
        self.inputs = tuple(_tensor_info(a) for a in session.get_inputs())
        self.outputs = tuple(_tensor_info(a) for a in session.get_outputs())

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        threads: int = 0,
        available: Collection[str] | None = None,
        spin: bool = False,
        cache_dir: Path | None = None,
    ) -> OnnxModel:
        """Open ``path`` with CUDA when available (falling back to CPU), ``threads`` intra-op.

        ``spin``: the intra-op threads spin between the graph's nodes instead of sleeping and
        being woken for each one (faster for one request on all cores); they stop spinning as
        soon as a run returns, so an idle runtime takes no CPU.

        ``cache_dir``: keep the optimised graph there and load it on later starts
        (``optimized.py``; CPU sessions only).

        ``available`` stands for ``ort.get_available_providers()`` (what this build of ONNX
        Runtime has). When the GPU provider is asked for but cannot start (no GPU, no driver, a
        CUDA or cuDNN library missing), the model runs on the CPU and a warning says so.
        """
        threads = threads or usable_cores()
        options = _options(threads, spin=spin)
        providers = select_providers(
            ort.get_available_providers() if available is None else available
        )
        if cache_dir is not None and providers == [_CPU]:
            session = open_cached(path, lambda: _options(threads, spin=spin), providers, cache_dir)
            return cls(session, path, threads, spin=spin, cache_dir=cache_dir)
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:
            if providers == [_CPU]:
                raise
            log.warning("could not start %s (%s); falling back to the CPU", providers[0], exc)
            session = ort.InferenceSession(str(path), sess_options=options, providers=[_CPU])
        else:
            # ONNX Runtime itself drops a provider whose libraries fail to load, without raising.
            if session.get_providers()[0] != providers[0]:
                log.warning("%s did not start; falling back to the CPU", providers[0])
        return cls(session, path, threads, spin=spin)

    @property
    def wants_narrow(self) -> bool:
        """Whether a one-thread CPU session would let batches run side by side."""
        return self._narrow is None and self.threads > 1 and self.provider == _CPU

    def load_narrow(self) -> None:
        """Add a one-thread CPU session for non-exclusive runs (several at once, one core each).

        The wide session (``threads`` intra-op threads) is fastest for one request at a time;
        several one-thread runs side by side are fastest under load. The batcher picks per run.
        """
        if self.wants_narrow and self.cache_dir is not None:
            self._narrow = open_cached(self.path, lambda: _options(1), [_CPU], self.cache_dir)
        elif self.wants_narrow:
            self._narrow = ort.InferenceSession(
                str(self.path), sess_options=_options(1), providers=[_CPU]
            )

    def fix_batches(self, largest: int) -> None:
        """Off the CPU, run batches of up to ``largest`` at fixed sizes (``fixed.py``): a session
        per size. Only for a model whose inputs and outputs all have a dynamic first dimension."""
        dynamic = all(t.shape[:1] == (-1,) for t in (*self.inputs, *self.outputs))
        if self.provider == _CPU or not dynamic or self._fixed is not None:
            return
        providers = self._session.get_providers()
        options = _options(self.threads, spin=self.spin)
        self._fixed = FixedBatches(
            lambda: ort.InferenceSession(str(self.path), sess_options=options, providers=providers),
            batch_sizes(largest),
        )

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """The batch sizes runs happen at (``fix_batches``), else (1,): what to warm up."""
        return self._fixed.sizes if self._fixed is not None else (1,)

    def input(self, name: str | None = None) -> TensorInfo:
        """The input called ``name`` (default: the first one)."""
        if name is None:
            return self.inputs[0]
        return next(i for i in self.inputs if i.name == name)

    def run(
        self,
        feeds: Mapping[str, np.ndarray],
        outputs: Sequence[str] | None = None,
        *,
        exclusive: bool = True,
        release: bool = False,
    ) -> list[np.ndarray]:
        """Run the model; returns the requested outputs (default: all), in that order.

        ``exclusive`` runs use the wide session; others the one-thread session once loaded;
        a batch that fits a fixed size (``fix_batches``) its session of that size.

        ``release``: once the run is done, the session's CPU memory arena gives back to the
        system what it holds unused (ONNX Runtime's arena shrinkage). An arena only grows: after
        runs larger than any to come (the batch-size fit), one such run sheds their memory.
        """
        names = list(outputs) if outputs else [o.name for o in self.outputs]
        rows = batch_of(feeds) if self._fixed is not None else None
        if self._fixed is not None and rows and self._fixed.size_for(rows):
            return self._fixed.run(names, feeds, rows)
        options = _RELEASE if release else None
        result: list[np.ndarray] = self.session(exclusive=exclusive).run(
            names, dict(feeds), options
        )
        return result

    def session(self, *, exclusive: bool = True) -> Any:
        """The ONNX Runtime session a run uses: the wide one when ``exclusive``, else the
        one-thread session (the wide one until that is loaded)."""
        return self._session if exclusive or self._narrow is None else self._narrow


def select_providers(available: Collection[str]) -> list[str]:
    """The execution providers to ask for, best first: CUDA if ``available`` has it, then CPU."""
    return [p for p in _PREFERRED_PROVIDERS if p in available or p == _CPU]


def _options(threads: int, *, spin: bool = False) -> Any:
    """Session options: ``threads`` intra-op threads (spinning or not), everything else fixed."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = True
    # A spinning worker wakes within microseconds for the next node instead of sleeping on a
    # futex; it only spins while a run is going (force_spinning_stop), so it steals no core
    # from the event loop or the other slots in between. Wide runs only happen when the
    # runtime is alone (policy.py); the one-thread session has no worker to spin.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options
