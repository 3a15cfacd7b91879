"""The optimised-model cache: ONNX Runtime's graph optimisations done once per model, then kept.

Opening a session optimises the model's graph (constant folding, fusions, the CPU's own tensor
layouts), which takes longer than loading the result: for EfficientNet-Lite0 most of the
session's start. The first start saves the optimised graph into the cache folder
(``SessionOptions.optimized_model_filepath``); later starts load that file with optimisation
off. A cached file is named after everything it depends on - the model's SHA-256, the ONNX
Runtime version, the optimisation level, the execution providers and this CPU (the layout
optimisations use its instruction set) - so a changed model, an upgraded ONNX Runtime or another
machine never loads a stale file. It is written under a temporary name and renamed into place
(a crash never leaves half a file); one that fails to load is removed and rebuilt. Only CPU
sessions use the cache. A cache folder that cannot be written is logged and done without.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onnxruntime as ort

log = logging.getLogger(__name__)

#: builds fresh ``SessionOptions`` (one per session: ONNX Runtime keeps what it was given)
OptionsFactory = Callable[[], Any]


def cpu_signature() -> str:
    """This CPU's architecture and feature flags (what the layout optimisations depend on)."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.startswith(("flags", "Features")):
                    flags = line.partition(":")[2].strip()
                    break
    except OSError:  # not Linux
        flags = platform.processor()
    return f"{platform.machine()} {flags}"


def cache_file(cache_dir: Path, model_path: Path, level: Any, providers: Sequence[str]) -> Path:
    """Where the optimised form of ``model_path`` is kept for these settings on this machine."""
    with model_path.open("rb") as model:
        model_hash = hashlib.file_digest(model, "sha256").hexdigest()
    key = hashlib.sha256(
        "\n".join(
            [model_hash, ort.__version__, str(level), ",".join(providers), cpu_signature()]
        ).encode()
    ).hexdigest()
    return cache_dir / f"{model_path.stem}-{key[:32]}.onnx"


def open_cached(
    model_path: Path, make_options: OptionsFactory, providers: Sequence[str], cache_dir: Path
) -> Any:
    """An ``InferenceSession`` of ``model_path``, from its cached optimised form when there is
    a good one; else optimised now and the result cached for the next start."""
    level = make_options().graph_optimization_level
    try:
        cached = cache_file(cache_dir, model_path, level, providers)
    except OSError as exc:  # the model itself cannot be read: let ONNX Runtime say why
        log.warning("no optimised-model cache for %s: %s", model_path, exc)
        return ort.InferenceSession(str(model_path), make_options(), providers=list(providers))
    if cached.is_file():
        options = make_options()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            session = ort.InferenceSession(str(cached), options, providers=list(providers))
        except Exception as exc:
            log.warning("optimised model %s does not load (%s); rebuilding it", cached, exc)
            cached.unlink(missing_ok=True)
        else:
            log.info("loaded the optimised model %s", cached)
            return session
    return _optimise(model_path, make_options, providers, cached)


def _optimise(
    model_path: Path, make_options: OptionsFactory, providers: Sequence[str], cached: Path
) -> Any:
    """Open ``model_path`` with optimisation on, writing the optimised graph to ``cached``."""
    options = make_options()
    partial = cached.with_name(f".{cached.name}.{os.getpid()}.partial")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot cache the optimised model in %s: %s", cached.parent, exc)
    else:
        options.optimized_model_filepath = str(partial)
    try:
        session = ort.InferenceSession(str(model_path), options, providers=list(providers))
    except Exception as exc:
        if not options.optimized_model_filepath:
            raise
        log.warning("could not save the optimised model to %s: %s", cached, exc)
        partial.unlink(missing_ok=True)
        return ort.InferenceSession(str(model_path), make_options(), providers=list(providers))
    if options.optimized_model_filepath:
        try:
            os.replace(partial, cached)
            log.info("optimised model saved to %s", cached)
        except OSError as exc:
            log.warning("could not save the optimised model to %s: %s", cached, exc)
        finally:
            partial.unlink(missing_ok=True)
    return session
