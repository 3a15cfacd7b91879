"""Settings: the gateway's configuration, read once from ``GATEWAY_*`` variables and passed down.

Nothing else in the gateway reads the environment; command-line flags override these values.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

BackendName = Literal["local", "knative", "deployment"]


class Settings(BaseSettings):
    """Gateway settings (environment variable = ``GATEWAY_`` + the field name in capitals)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    grpc_port: int = Field(
        default=8081,
        ge=0,
        le=65535,
        description="Open Inference Protocol gRPC (gateway serve); 0: off",
    )
    files: tuple[Path, ...] = Field(default=(), description="FDL files loaded at start")
    data_dir: Path = Field(default=Path(".data"), description="logs and state of this gateway")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    admin_token: SecretStr | None = None
    admin_user: str = Field(default="oscar", description="HTTP Basic user of the admin (OSCAR's)")
    admin_password: SecretStr | None = Field(
        default=None, description="HTTP Basic password of the admin; None: the admin token"
    )
    allow_anonymous: bool = Field(
        default=False, description="serve without an admin token on a non-loopback address"
    )
    services_db: Path | None = Field(default=None, description="None: data_dir/services.db")
    backends: tuple[BackendName, ...] = Field(default=("local",), description="enabled backends")

    # Limits on what clients send.
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1)

    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_inflight_per_service: int = Field(default=64, ge=1, description="requests at once")
    max_queue_per_service: int = Field(default=256, ge=0, description="requests waiting")

    # The data path to upstream runtimes.
    upstream_connect_timeout: float = Field(default=2.0, gt=0)
    upstream_timeout: float = Field(default=60.0, gt=0, description="per request, in seconds")
    upstream_pool_size: int = Field(default=256, ge=1, description="connections per upstream")

    # The local backend.
    runtime_python: str = Field(default=sys.executable, description="python that runs runtimes")
    runtime_start_timeout: float = Field(default=120.0, gt=0)
    runtime_threads: int = Field(default=0, ge=0, description="0: from the service's cpu")
    restart_backoff_max: float = Field(default=5.0, gt=0)
    cache_dir: Path | None = Field(
        default=None, description="runtimes' optimised models, kept between starts; None: "
        "data_dir/cache",
    )  # fmt: skip

    # The Kubernetes backends (knative, deployment).
    kube_namespace: str = "default"
    kubeconfig: Path | None = Field(default=None, description="None: in-cluster, else ~/.kube")
    kube_request_timeout: float = Field(default=10.0, gt=0)
    kube_watch_seconds: float = Field(
        default=60.0, ge=1, description="a watch stream's length; the next resumes where it ended"
    )
    knative_route: Literal["address", "url"] = Field(
        default="address", description="route to status.address.url (in-cluster) or status.url"
    )
    gpu_node_label: str = Field(default="nvidia.com/gpu.present=true", description="key=value")
    deployment_route: Literal["service", "endpoints"] = Field(
        default="service",
        description="deployment backend: the Service's DNS name, or round-robin over the ready "
        "EndpointSlice addresses",
    )
    cold_start_budget: float = Field(default=30.0, ge=0, description="seconds")
    reconcile_interval: float = Field(default=30.0, gt=0, description="seconds")

    # The async job path.
    jobs_db: Path | None = Field(default=None, description="SQLite file; None: data_dir/jobs.db")
    job_concurrency: int = Field(
        default=4, ge=1, description="batches (upstream requests) in flight per service"
    )
    job_retries: int = Field(default=3, ge=0)
    job_retry_backoff: float = Field(default=0.5, ge=0)
    job_result_max_bytes: int = Field(
        default=64 * 1024, ge=0, description="an item's JSON answer inline in GET /jobs/{id} up "
        "to this size; past it, a marker and the download link",
    )  # fmt: skip
    watch_interval: float = Field(default=2.0, gt=0, description="bucket watcher poll, seconds")
    kube_jobs: bool = Field(
        default=True,
        description="a job of a knative/deployment service whose storage is S3 runs as one "
        "batch/v1 Job (python -m runtimes.batch in the service's image); false: through the "
        "service's HTTP endpoint",
    )
    events_token: SecretStr | None = None
    cluster_id: str | None = Field(
        default=None,
        description="OSCAR FDL: the cluster whose entry a service declared for several "
        "clusters takes (None: the first)",
    )

    # Delegation to a service's members (replicas, federation).
    delegation_cooldown: float = Field(
        default=30.0, gt=0, description="seconds a failed member is skipped"
    )
    delegation_status_ttl: float = Field(
        default=5.0, ge=0, description="seconds a member's /system/status (its load) is kept"
    )
    delegation_timeout: float = Field(
        default=20.0, gt=0, description="seconds for a member's token or a delegated job"
    )
    delegation_retry_interval: float = Field(
        default=2.0, gt=0, description="seconds between two tries of a pipeline's output "
        "bound for another cluster",
    )  # fmt: skip
    delegation_poll_interval: float = Field(
        default=1.0, gt=0, description="seconds between two looks at a delegated job"
    )

    # The web dashboard at /ui/.
    ui_session_hours: float = Field(default=12.0, gt=0, description="a login lasts this long")
