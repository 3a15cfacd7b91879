"""RuntimeSettings: how a runtime process is configured (``RUNTIME_*`` environment variables).

The same variables configure a runtime started by the gateway's local backend, a Knative revision
or a Deployment's pods. Complex fields (``RUNTIME_PREPROCESS``...) are JSON.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtimes.onnx.spec import BatchingSpec, PostprocessSpec, PreprocessSpec


class RuntimeSettings(BaseSettings):
    """Settings of one ONNX runtime process, read once at start and passed down."""

    model_config = SettingsConfigDict(env_prefix="RUNTIME_", frozen=True, extra="ignore")

    name: str = Field(description="the service name, as in /v2/models/{name}")
    model_path: Path
    labels_path: Path | None = None
    model_label: str | None = Field(
        default=None, description='"model" in answers; default: the model file\'s stem'
    )
    preprocess: PreprocessSpec = PreprocessSpec()
    postprocess: PostprocessSpec = PostprocessSpec()
    batching: BatchingSpec = BatchingSpec()
    host: str = "0.0.0.0"
    port: int = 8080
    unix_socket: Path | None = Field(
        default=None, description="serve HTTP on this Unix socket instead of host and port"
    )
    grpc_port: int | None = Field(
        default=None, ge=0, le=65535, description="Open Inference Protocol gRPC; unset: off"
    )
    threads: int = Field(default=0, ge=0, description="ONNX Runtime intra-op threads; 0: auto")
    spin: bool = Field(
        default=True,
        description="a run on all cores keeps its intra-op threads spinning until it returns "
        "(as ONNX Runtime's own default does; faster for one request at a time; false on a host "
        "where other processes want the cores)",
    )
    lone_on_loop_ms: float = Field(
        default=20.0,
        ge=0,
        description="on the CPU, a lone request (nothing else running or waiting) whose run "
        "takes less than this runs on the event loop's thread, without a hop to a worker thread "
        "and back; 0: always in a worker (the in-process backend's loop serves the whole gateway)",
    )
    cache_dir: Path | None = Field(
        default=None,
        description="keeps the model's optimised graph between starts (optimized.py); unset: "
        "optimised on every start",
    )
    ready_fd: int | None = Field(
        default=None, ge=0, description="a pipe from the starting process: told once this "
        "runtime serves (runtimes.readiness)",
    )  # fmt: skip
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_pixels: int = Field(default=40_000_000, ge=1)
    max_files: int = Field(default=64, ge=1)
    default_top_k: int = Field(default=5, ge=1)
    log_level: str = "info"
    token: SecretStr | None = Field(
        default=None, description="asked of every caller but the health routes (runtimes.auth)"
    )
