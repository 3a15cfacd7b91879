"""ServiceSpec, the service definition model, and the loading of FDL files (ours and OSCAR's).

A validation error names the file, the service and the field, e.g.
``services.yaml: service 'imagenet': preprocess.size: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from gateway.errors import BadRequest, InvalidDefinition
from gateway.oscar import (
    is_oscar,
    looks_like_oscar_service,
    oscar_to_native,
    single_service_document,
)
from gateway.quantity import parse_quantity, resource_quantity
from gateway.spec_parts import (
    ClusterSpec,
    ExposeSpec,
    FederationSpec,
    LabelKey,
    LabelValue,
    LogLevel,
    MemberSpec,
    Secret,
    SecretKey,
    split_labels,
)
from gateway.text import check_text
from gateway.yaml_text import describe_error, load_yaml
from runtimes.onnx.spec import BatchingSpec, PostprocessSpec, PreprocessSpec
from runtimes.script.limits import ScriptLimits

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Quantity = Annotated[str, AfterValidator(resource_quantity)]  # Kubernetes' grammar: 1Gi, 500m


class StorageIO(BaseModel):
    """An input or output binding: a path (first segment = bucket) in a named storage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: str = "default"
    path: str = Field(min_length=1)
    suffix: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()


class StorageSpec(BaseModel):
    """An object store: the embedded filesystem one, any S3-compatible server, or a WebDAV
    server (dCache: ``events_url`` names its frontend, whose storage events start jobs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["filesystem", "s3", "webdav"] = "filesystem"
    root: Path | None = None
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"
    # webdav: `url` (https://host:port/path/), or `hostname` (host[:port][/path], https)
    url: str | None = None
    hostname: str | None = None
    login: str | None = None
    password: SecretStr | None = None
    verify: bool = True
    events_url: str | None = None

    @model_validator(mode="after")
    def _check(self) -> StorageSpec:
        if self.type == "webdav" and not (self.url or self.hostname):
            raise ValueError("a webdav storage needs 'url' or 'hostname'")
        return self

    def webdav_url(self) -> str:
        """The WebDAV root URL (`url`, else ``https://<hostname>/``)."""
        if self.url:
            return self.url
        host = (self.hostname or "").strip("/")
        return host if "://" in host else f"https://{host}/"


class ServiceSpec(BaseModel):
    """One service: a model (or script) behind ``/predict/<name>`` on one backend."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=39)
    runtime: Literal["onnx", "script"] = "onnx"
    model: Path | None = None
    labels: Path | None = None
    preprocess: PreprocessSpec = PreprocessSpec()
    postprocess: PostprocessSpec = PostprocessSpec()
    batching: BatchingSpec = BatchingSpec()
    script: str | None = Field(default=None, description="script text (runtime: script)")
    backend: Literal["local", "knative", "deployment"] = "local"
    in_process: bool = Field(
        default=False,
        description="local onnx services: serve the model inside the gateway process "
        "(no second process or HTTP hop; no isolation, no restarts)",
    )
    image: str | None = None
    variants: dict[Literal["amd64", "arm64", "gpu"], str] = Field(default_factory=dict)
    platform: Literal["amd64", "arm64", "multi"] = "multi"
    cpu: Quantity = "1"
    memory: Quantity = "1Gi"
    enable_gpu: bool = False
    min_scale: int = Field(default=0, ge=0)
    max_scale: int = Field(default=4, ge=1)
    timeout: float | None = Field(default=None, gt=0, description="per-request seconds")
    visibility: Literal["private", "public", "restricted"] = "private"
    environment: dict[str, str] = Field(default_factory=dict)
    secrets: dict[SecretKey, Secret] = Field(
        default_factory=dict, description="env of the runtime only; masked in every dump"
    )
    limits: ScriptLimits | None = Field(default=None, description="per run of the script")
    input: tuple[StorageIO, ...] = ()
    output: tuple[StorageIO, ...] = ()
    kube_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="labels on the Kubernetes objects (OSCAR's labels map)"
    )
    annotations: dict[str, str] = Field(default_factory=dict)
    image_pull_secrets: tuple[str, ...] = ()
    ephemeral_storage: Quantity | None = None
    log_level: LogLevel | None = Field(default=None, description="None: the gateway's")
    expose: ExposeSpec | None = None
    replicas: tuple[MemberSpec, ...] = ()
    federation: FederationSpec | None = None
    clusters: dict[str, ClusterSpec] = Field(default_factory=dict)
    cannot_run: str | None = Field(
        default=None, description="why this declared service is not run here (state: failed)"
    )

    @model_validator(mode="before")
    @classmethod
    def _oscar_shapes(cls, data: Any) -> Any:
        data = split_labels(data)
        if isinstance(data, Mapping) and data.get("expose") and "backend" not in data:
            data = {**data, "backend": "deployment"}
        return data

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.lower()
            return "debug" if value == "notset" else value
        return value

    @model_validator(mode="after")
    def _check(self) -> ServiceSpec:
        if self.runtime == "onnx" and self.model is None:
            raise ValueError("an onnx service needs 'model' (path of the .onnx file)")
        own_command = self.expose is not None and self.expose.default_command
        if self.runtime == "script" and not self.script and not (self.cannot_run or own_command):
            raise ValueError("a script service needs 'script'")
        if self.in_process and (self.runtime != "onnx" or self.backend != "local"):
            raise ValueError("in_process: true needs runtime: onnx on backend: local")
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale {self.min_scale} > max_scale {self.max_scale}")
        if self.expose is not None and self.backend != "deployment":
            raise ValueError("an exposed service runs on backend 'deployment'")
        return self

    @property
    def exposed_port(self) -> int | None:
        """The container port of an exposed service's own HTTP API (None: not exposed)."""
        return self.expose.api_port if self.expose is not None else None

    def cpu_cores(self) -> float:
        """The cpu quantity as a number of cores ("500m" -> 0.5)."""
        return float(parse_quantity(self.cpu))


class FdlDocument(BaseModel):
    """What one FDL file declares, and what it declares that is not done here (`warnings`:
    one line each, "service 'x': field 'y' is not supported here and was ignored")."""

    model_config = ConfigDict(frozen=True)

    services: tuple[ServiceSpec, ...] = ()
    storage: dict[str, StorageSpec] = Field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def load_file(path: Path, *, cluster_id: str | None = None) -> FdlDocument:
    """Load an FDL file (ours or OSCAR's); relative model paths are resolved against its folder.

    `cluster_id` picks the entry of an OSCAR service declared for several clusters."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidDefinition(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidDefinition(f"{path}: not UTF-8 text: {exc.reason}") from exc
    except yaml.YAMLError as exc:
        raise InvalidDefinition(f"{path}: not valid YAML: {describe_error(exc)}") from exc
    check_text(data, source=str(path))
    return parse_document(
        data, source=str(path), base_dir=path.parent.resolve(), cluster_id=cluster_id
    )


def parse_text(text: str | bytes, *, source: str, cluster_id: str | None = None) -> FdlDocument:
    """Services from a JSON or YAML text: an FDL document (ours or OSCAR's) or one service.

    JSON is read as JSON first (a surrogate pair such as an escaped emoji is one character);
    text with a lone surrogate is refused (`BadRequest`)."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            data = load_yaml(text)
        except yaml.YAMLError as exc:
            problem = describe_error(exc)
            raise BadRequest(f"{source}: neither valid YAML nor JSON: {problem}") from exc
        except UnicodeDecodeError as exc:
            raise BadRequest(f"{source}: not UTF-8 text") from exc
    check_text(data, source=source)
    if isinstance(data, Mapping) and "name" in data and "services" not in data:
        if looks_like_oscar_service(data):  # oscar-cli and OSCAR's API send one service object
            data = single_service_document(data)
        else:
            return FdlDocument(services=(parse_service(data, source=source),))
    return parse_document(data, source=source, cluster_id=cluster_id)


def parse_document(
    data: Any, *, source: str, base_dir: Path | None = None, cluster_id: str | None = None
) -> FdlDocument:
    """Validate a parsed FDL mapping (as from YAML or a JSON API body)."""

    if not isinstance(data, Mapping):
        raise InvalidDefinition(f"{source}: expected a mapping with 'services:'")
    warnings: list[str] = []
    if is_oscar(data):
        mapped = oscar_to_native(data, source=source, base_dir=base_dir, cluster_id=cluster_id)
        data, warnings = mapped.document, list(mapped.warnings)
    unknown = set(data) - {"services", "storage"}
    if unknown:
        raise InvalidDefinition(f"{source}: unknown top-level key(s): {', '.join(sorted(unknown))}")
    raw_services = data.get("services") or []
    if not isinstance(raw_services, list):
        raise InvalidDefinition(f"{source}: 'services' must be a list")
    services = [parse_service(item, source=source, base_dir=base_dir) for item in raw_services]
    names = [s.name for s in services]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidDefinition(f"{source}: service(s) declared twice: {', '.join(dupes)}")
    try:
        storage = {k: StorageSpec.model_validate(v) for k, v in (data.get("storage") or {}).items()}
    except ValidationError as exc:
        raise InvalidDefinition(f"{source}: storage: {_describe(exc)}") from exc
    return FdlDocument(services=tuple(services), storage=storage, warnings=tuple(warnings))


def parse_service(item: Any, *, source: str, base_dir: Path | None = None) -> ServiceSpec:
    """Validate one service mapping; errors name the source, the service and the field."""
    label = repr(item.get("name")) if isinstance(item, Mapping) else "?"
    try:
        spec = ServiceSpec.model_validate(item)
    except ValidationError as exc:
        raise InvalidDefinition(f"{source}: service {label}: {_describe(exc)}") from exc
    if base_dir is None:
        return spec
    return spec.model_copy(
        update={
            "model": _resolve(spec.model, base_dir),
            "labels": _resolve(spec.labels, base_dir),
        }
    )


def _resolve(path: Path | None, base_dir: Path) -> Path | None:
    if path is None or path.is_absolute():
        return path
    return (base_dir / path).resolve()


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(definition)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
