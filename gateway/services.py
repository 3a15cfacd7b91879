"""ServiceSpec, the service definition model, and the loading of FDL files (ours and OSCAR's).

A validation error names the file, the service and the field, e.g.
``services.yaml: service 'imagenet': preprocess.size: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from gateway.errors import BadRequest, InvalidDefinition
from gateway.oscar import is_oscar, looks_like_oscar_service, oscar_to_native
from runtimes.onnx.spec import BatchingSpec, PostprocessSpec, PreprocessSpec

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
CPU_PATTERN = r"^\d+(\.\d+)?m?$"
MEMORY_PATTERN = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|K|M|G|T)?$"


class StorageIO(BaseModel):
    """An input or output binding: a path (first segment = bucket) in a named storage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    storage: str = "default"
    path: str = Field(min_length=1)
    suffix: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()


class StorageSpec(BaseModel):
    """An object store: the embedded filesystem one, or any S3-compatible server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["filesystem", "s3"] = "filesystem"
    root: Path | None = None
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str = "us-east-1"


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
    cpu: str = Field(default="1", pattern=CPU_PATTERN)
    memory: str = Field(default="1Gi", pattern=MEMORY_PATTERN)
    enable_gpu: bool = False
    min_scale: int = Field(default=0, ge=0)
    max_scale: int = Field(default=4, ge=1)
    timeout: float | None = Field(default=None, gt=0, description="per-request seconds")
    visibility: Literal["private", "public", "restricted"] = "private"
    environment: dict[str, str] = Field(default_factory=dict)
    input: tuple[StorageIO, ...] = ()
    output: tuple[StorageIO, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> ServiceSpec:
        if self.runtime == "onnx" and self.model is None:
            raise ValueError("an onnx service needs 'model' (path of the .onnx file)")
        if self.runtime == "script" and not self.script:
            raise ValueError("a script service needs 'script'")
        if self.in_process and (self.runtime != "onnx" or self.backend != "local"):
            raise ValueError("in_process: true needs runtime: onnx on backend: local")
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale {self.min_scale} > max_scale {self.max_scale}")
        return self

    def cpu_cores(self) -> float:
        """The cpu quantity as a number of cores ("500m" -> 0.5)."""
        return float(self.cpu[:-1]) / 1000 if self.cpu.endswith("m") else float(self.cpu)


class FdlDocument(BaseModel):
    """What one FDL file declares."""

    model_config = ConfigDict(frozen=True)

    services: tuple[ServiceSpec, ...] = ()
    storage: dict[str, StorageSpec] = Field(default_factory=dict)


def load_file(path: Path) -> FdlDocument:
    """Load an FDL file (ours or OSCAR's); relative model paths are resolved against its folder."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidDefinition(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise InvalidDefinition(f"{path}: not valid YAML: {exc}") from exc
    return parse_document(data, source=str(path), base_dir=path.parent.resolve())


def parse_text(text: str | bytes, *, source: str) -> list[ServiceSpec]:
    """Services from a YAML or JSON text: an FDL document (ours or OSCAR's) or one service."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadRequest(f"{source}: neither valid YAML nor JSON: {exc}") from exc
    if isinstance(data, Mapping) and "name" in data and "services" not in data:
        if looks_like_oscar_service(data):  # oscar-cli and OSCAR's API send one service object
            data = {"functions": {"oscar": [{"api": data}]}}
        else:
            return [parse_service(data, source=source)]
    return list(parse_document(data, source=source).services)


def parse_document(data: Any, *, source: str, base_dir: Path | None = None) -> FdlDocument:
    """Validate a parsed FDL mapping (as from YAML or a JSON API body)."""

    if not isinstance(data, Mapping):
        raise InvalidDefinition(f"{source}: expected a mapping with 'services:'")
    if is_oscar(data):
        data = oscar_to_native(data, source=source, base_dir=base_dir)
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
    return FdlDocument(services=tuple(services), storage=storage)


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
