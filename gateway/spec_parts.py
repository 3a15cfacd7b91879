"""The OSCAR-shaped parts of a `ServiceSpec`: secrets, ``expose``, members and clusters.

`Secret` is a `SecretStr` that every dump masks (``"**********"``), so a secret never reaches a
log line or an API answer; only a dump with ``context=REVEAL`` (the definition store, and the
client that sends a definition it loaded from a file) carries the value. ``replicas``,
``federation`` and ``clusters`` are kept typed but permissive (unknown keys are kept) for the
issue that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    model_validator,
)

MASK = "**********"
REVEAL: dict[str, bool] = {"reveal_secrets": True}
"""Pass as ``context=`` to ``model_dump``/``model_dump_json`` to dump secrets in clear."""


def _dump_secret(value: SecretStr, info: SerializationInfo) -> str:
    context = info.context
    if isinstance(context, Mapping) and context.get("reveal_secrets"):
        return value.get_secret_value()
    return MASK


Secret = Annotated[SecretStr, PlainSerializer(_dump_secret, return_type=str, when_used="always")]

LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?"  # optional DNS-subdomain prefix
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
LabelKey = Annotated[str, Field(pattern=LABEL_KEY)]
SecretKey = Annotated[str, Field(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ExposeSpec(BaseModel):
    """OSCAR's ``expose``: the service is a long-running Deployment serving its own HTTP API on
    `api_port` (the deployment backend runs it; the gateway proxies
    ``/system/services/<name>/exposed/...`` to that port)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_port: int = Field(ge=1, le=65535)
    min_scale: int = Field(default=1, ge=1)
    max_scale: int = Field(default=10, ge=1)
    cpu_threshold: int = Field(default=80, ge=1, le=100, description="HPA CPU target, percent")
    rewrite_target: bool = Field(default=False, description="keep the /system/... path prefix")
    default_command: bool = Field(default=False, description="true: the image's entrypoint")
    set_auth: bool = Field(default=False, description="require the service token")
    health_path: str = Field(default="/", pattern=r"^/")

    @model_validator(mode="after")
    def _check(self) -> ExposeSpec:
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale {self.min_scale} > max_scale {self.max_scale}")
        return self


class MemberSpec(BaseModel):
    """A replica (OSCAR ≤ 3.7 ``replicas[]``) or federation member: another cluster or endpoint
    that may take a service's requests and jobs."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["oscar", "endpoint"] = "oscar"
    cluster_id: str | None = None
    service_name: str | None = None
    url: str | None = None
    ssl_verify: bool = True
    priority: int = Field(default=0, ge=0)
    headers: dict[str, str] = Field(default_factory=dict)
    grpc_url: str | None = None  # its OIP gRPC port (``host:port``): gRPC calls go there


class FederationSpec(BaseModel):
    """OSCAR's ``federation`` block (v4)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    group_id: str | None = None
    topology: str = "none"
    delegation: str = "static"
    rescheduler_threshold: int | None = None
    members: tuple[MemberSpec, ...] = ()


class ClusterSpec(BaseModel):
    """One OSCAR cluster an FDL file names (``clusters: {id: {...}}``)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    endpoint: str | None = None
    auth_user: str | None = None
    auth_password: Secret | None = None
    ssl_verify: bool = True
    grpc_url: str | None = None  # its OIP gRPC port (``host:port``), for its members


def split_labels(data: Any) -> Any:
    """Our ``labels`` is a labels-file path, OSCAR's a map of Kubernetes labels: a mapping
    under ``labels`` moves to ``kube_labels`` (anything else is returned unchanged)."""
    if isinstance(data, Mapping) and isinstance(data.get("labels"), Mapping):
        out = dict(data)
        out["kube_labels"] = {**out.pop("labels"), **(out.get("kube_labels") or {})}
        return out
    return data
