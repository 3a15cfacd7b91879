"""What becomes of each field of an OSCAR service: the fields taken over as they are, those the
server sets, those not supported here, and the mapping of ``expose``, storage bindings and
``storage_providers`` (each returns notes, one line per field that was not taken over)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NATIVE_FIELDS = (
    "name",
    "image",
    "memory",
    "enable_gpu",
    "visibility",
    "log_level",
    "replicas",
    "federation",
    # our own fields, which an OSCAR file may carry too (an onnx service with its preprocessing)
    "runtime",
    "model",
    "preprocess",
    "postprocess",
    "batching",
    "backend",
    "variants",
    "platform",
    "timeout",
    "min_scale",
    "max_scale",
    "kube_labels",
    "secrets",
    "ephemeral_storage",
    "cannot_run",
)
SERVER_SET = frozenset(
    {
        "token",
        "owner",
        "cluster_id",
        "bucket_list",
        "namespace",
        "volume_status",
        "deployment",
        "creation_time",
    }
)
UNSUPPORTED = frozenset(
    {
        "alpine",
        "image_prefetch",
        "vo",
        "allowed_users",
        "isolation_level",
        "interlink_node_name",
        "enable_sgx",
        "total_cpu",
        "total_memory",
        "file_stage_in",
        "mount",
        "volume",
        "kserve",
        "delegation",
        "rescheduler_threshold",
        "storage_providers",
        "clusters",
    }
)
_EXPOSE_MAPPED = (
    "min_scale",
    "max_scale",
    "cpu_threshold",
    "rewrite_target",
    "default_command",
    "set_auth",
    "health_path",
)
_STORES = ("minio", "s3")


def expose(block: Any, notes: list[str]) -> dict[str, Any] | None:
    """OSCAR's ``expose``; None when it exposes no port (``api_port`` 0 or absent)."""
    if not isinstance(block, Mapping):
        notes.append("field 'expose' is not a mapping and was ignored")
        return None
    port = block.get("api_port")
    if isinstance(port, list):
        ports = [p for p in port if p]
        if len(ports) > 1:
            notes.append(f"expose.api_port: only the first port ({ports[0]}) is served here")
        port = ports[0] if ports else 0
    if not port:
        return None
    out: dict[str, Any] = {"api_port": int(port)}
    for key in _EXPOSE_MAPPED:
        if key in block and block[key] is not None:
            out[key] = block[key]
    for key in ("min_scale", "max_scale"):
        if key in out and int(out[key]) < 1:
            notes.append(f"expose.{key} {out[key]} is below 1 here: 1 was taken")
            out[key] = 1
    for key in sorted(set(block) - {"api_port", *_EXPOSE_MAPPED}):
        if block[key]:
            notes.append(f"field 'expose.{key}' is not supported here and was ignored")
    return out


def io_binding(io: Any, direction: str, notes: list[str]) -> dict[str, Any]:
    """An input or output binding; ``minio.<id>``/``s3.<id>`` name the store ``<id>``;
    ``oscar.<cluster>`` names another cluster, and a URL (``https://host:port``) a member's
    gateway (their service: the path's first segment)."""
    if not isinstance(io, Mapping):
        return {"path": ""}  # fails validation with the field's name
    provider = str(io.get("storage_provider") or "minio.default")
    kind, _, ident = provider.partition(".")
    name = ident or "default"
    if kind == "webdav":
        name = f"webdav.{name}"
    elif (kind == "oscar" and ident) or provider.startswith(("http://", "https://")):
        name = provider  # gateway.jobs.outbox
    elif kind not in _STORES:
        name = provider
        notes.append(
            f"{direction} storage_provider {provider!r}: {kind} storage is not supported here "
            "(jobs through this binding fail until a store of that name exists)"
        )
    out: dict[str, Any] = {"storage": name, "path": io.get("path", "")}
    for key in ("suffix", "prefix"):
        if io.get(key):
            out[key] = [str(v) for v in io[key]]
    for key in sorted(set(io) - {"storage_provider", "path", "suffix", "prefix"}):
        if io[key]:
            notes.append(f"field '{direction}.{key}' is not supported here and was ignored")
    return out


def storage(providers: Any) -> tuple[dict[str, Any], list[str]]:
    """OSCAR's ``storage_providers``: MinIO and S3 become S3 stores; the rest are named."""
    out: dict[str, Any] = {}
    notes: list[str] = []
    if not isinstance(providers, Mapping):
        return out, ["storage_providers is not a mapping and was ignored"]
    for kind, entries in providers.items():
        if kind == "webdav" and isinstance(entries, Mapping):
            for ident, conf in entries.items():
                out[f"webdav.{ident}"] = _webdav(str(ident), conf or {})
            continue
        if kind not in _STORES:
            ids = ", ".join(sorted(map(str, entries or {}))) if isinstance(entries, Mapping) else ""
            notes.append(
                f"storage_providers.{kind} ({ids or 'none'}): {kind} storage is not supported "
                "here and was ignored"
            )
            continue
        for ident, conf in (entries or {}).items():
            conf = conf or {}
            out[str(ident)] = {
                "type": "s3",
                "endpoint": conf.get("endpoint"),
                "access_key": conf.get("access_key"),
                "secret_key": conf.get("secret_key"),
                "region": conf.get("region") or "us-east-1",
            }
            if conf.get("verify") is False:
                notes.append(
                    f"storage_providers.{kind}.{ident}.verify: false is not supported here "
                    "(TLS certificates are verified)"
                )
            for key in sorted(set(conf) - {"endpoint", "access_key", "secret_key", "region"}):
                if key != "verify" and conf[key]:
                    notes.append(
                        f"field 'storage_providers.{kind}.{ident}.{key}' is not supported here "
                        "and was ignored"
                    )
    return out, notes


def _webdav(ident: str, conf: Mapping[str, Any]) -> dict[str, Any]:
    """OSCAR's ``webdav: {<id>: {hostname, login, password}}``; a binding names it ``webdav.<id>``
    (``storage_provider: webdav.dcache``). For the id ``dcache``, dCache's storage events come from
    its frontend on the same host, port 3880 (its default), unless ``events_url`` says otherwise."""
    out: dict[str, Any] = {"type": "webdav", "hostname": conf.get("hostname")}
    for key in ("login", "password", "verify", "url", "events_url"):
        if conf.get(key) is not None:
            out[key] = conf[key]
    host = str(conf.get("hostname") or "").split("://")[-1].split("/")[0].split(":")[0]
    if ident == "dcache" and host and "events_url" not in out:
        out["events_url"] = f"https://{host}:3880"
    return out
