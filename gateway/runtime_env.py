"""The ``RUNTIME_*`` environment that configures a service's runtime, wherever it runs.

The same variables configure a local runtime process, a Knative revision's container and a
Deployment's pods (``runtimes/onnx/config.py`` reads them). Paths to the model are only set where
the model file is on this machine (the local backend); images carry their own.
"""

from __future__ import annotations

import math
import os

import orjson

from gateway.services import ServiceSpec
from runtimes.script.limits import resolve_limits

RUNTIME_MODULES = {"onnx": "runtimes.onnx", "script": "runtimes.script"}
SCRIPT_ITEM_TIMEOUT = 300.0  # seconds per input file when a script service sets no timeout


def runtime_threads(spec: ServiceSpec, override: int = 0) -> int:
    """Inference threads for a service: `override`, else its cpu rounded up, within this host."""
    threads = override or max(1, math.ceil(spec.cpu_cores()))
    return min(threads, len(os.sched_getaffinity(0)))


def runtime_env(
    spec: ServiceSpec,
    *,
    threads: int,
    max_body_bytes: int,
    log_level: str = "info",
    with_paths: bool = True,
) -> dict[str, str]:
    """Environment variables for the service's runtime (`with_paths`: include model paths;
    never the service's secrets: `secret_env`)."""
    env = {
        "RUNTIME_NAME": spec.name,
        "RUNTIME_PREPROCESS": spec.preprocess.model_dump_json(),
        "RUNTIME_POSTPROCESS": spec.postprocess.model_dump_json(),
        "RUNTIME_BATCHING": spec.batching.model_dump_json(),
        "RUNTIME_THREADS": str(threads),
        "RUNTIME_MAX_BODY_BYTES": str(max_body_bytes),
        "RUNTIME_LOG_LEVEL": spec.log_level or log_level,
    }
    if with_paths and spec.model is not None:
        env["RUNTIME_MODEL_PATH"] = str(spec.model)
    if with_paths and spec.labels is not None:
        env["RUNTIME_LABELS_PATH"] = str(spec.labels)
    if spec.script is not None:
        timeout = spec.timeout or SCRIPT_ITEM_TIMEOUT
        env["RUNTIME_SCRIPT"] = spec.script
        env["RUNTIME_ITEM_TIMEOUT"] = str(timeout)
        env["RUNTIME_ENVIRONMENT"] = orjson.dumps(spec.environment).decode()  # for the script
        env["RUNTIME_SECRET_NAMES"] = orjson.dumps(sorted(spec.secrets)).decode()  # names only
        limits = resolve_limits(
            spec.limits, memory=spec.memory, cpu_cores=spec.cpu_cores(), timeout=timeout
        )
        env["RUNTIME_LIMITS"] = limits.model_dump_json()
    return {**spec.environment, **env}


def secret_env(spec: ServiceSpec) -> dict[str, str]:
    """The service's ``secrets`` in clear, for its runtime's environment only (on Kubernetes
    they travel in a Secret instead, see `gateway.kube.objects.service_secret`)."""
    return {key: value.get_secret_value() for key, value in spec.secrets.items()}
