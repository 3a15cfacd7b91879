"""Mapping of OSCAR's FDL (``functions: oscar: [{<cluster>: {...}}]``) onto our FDL model.

OSCAR users bring their files unchanged: each OSCAR service becomes a ``runtime: script`` service
(its ``script`` path is read and embedded, as oscar-cli does), ``synchronous`` scale bounds map to
``min_scale``/``max_scale``, ``storage_provider: minio.default`` maps to our ``default`` storage and
``storage_providers`` to ``storage`` (a ``webdav`` provider, such as dCache's, as ``webdav.<id>``).
Fields with no meaning here (federation, SGX...) are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.errors import InvalidDefinition

_COPIED = ("name", "image", "memory", "enable_gpu", "visibility", "model", "labels", "runtime")


def is_oscar(data: Mapping[str, Any]) -> bool:
    """True for an OSCAR FDL document."""
    return "functions" in data or "storage_providers" in data


_OSCAR_ONLY = {"synchronous", "log_level", "alpine", "image_prefetch", "expose", "vo", "clusters"}


def looks_like_oscar_service(service: Mapping[str, Any]) -> bool:
    """True for one OSCAR service object (as OSCAR's API and oscar-cli send it)."""
    if _OSCAR_ONLY & set(service) or ("script" in service and "runtime" not in service):
        return True
    bindings = [*(service.get("input") or []), *(service.get("output") or [])]
    return any(isinstance(io, Mapping) and "storage_provider" in io for io in bindings)


def oscar_to_native(
    data: Mapping[str, Any], *, source: str, base_dir: Path | None
) -> dict[str, Any]:
    """Translate an OSCAR FDL mapping into our ``{services, storage}`` mapping."""
    functions = data.get("functions") or {}
    entries = functions.get("oscar") if isinstance(functions, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidDefinition(f"{source}: OSCAR FDL needs 'functions: oscar: [...]'")
    services = []
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise InvalidDefinition(
                f"{source}: each functions.oscar item is {{<cluster>: service}}"
            )
        (service,) = entry.values()
        if not isinstance(service, Mapping):
            raise InvalidDefinition(f"{source}: an OSCAR service must be a mapping")
        services.append(_service(service, source=source, base_dir=base_dir))
    return {"services": services, "storage": _storage(data.get("storage_providers") or {})}


def _service(svc: Mapping[str, Any], *, source: str, base_dir: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {k: svc[k] for k in _COPIED if k in svc}
    out.setdefault("runtime", "script")
    if "cpu" in svc:
        out["cpu"] = str(svc["cpu"])
    if "script" in svc:
        out["script"] = _script_text(str(svc["script"]), source=source, base_dir=base_dir)
    sync = svc.get("synchronous") or {}
    if "min_scale" in sync:
        out["min_scale"] = int(sync["min_scale"])
    if int(sync.get("max_scale") or 0) > 0:
        out["max_scale"] = int(sync["max_scale"])
    env = (svc.get("environment") or {}).get("variables") or {}
    out["environment"] = {str(k): str(v) for k, v in env.items()}
    out["input"] = [_io(io) for io in svc.get("input") or []]
    out["output"] = [_io(io) for io in svc.get("output") or []]
    return out


def _script_text(script: str, *, source: str, base_dir: Path | None) -> str:
    """oscar-cli embeds the file a ``script:`` path names; inline script text is kept as is."""
    if "\n" in script or base_dir is None:
        return script
    path = base_dir / script
    if not path.is_file():
        raise InvalidDefinition(f"{source}: script file not found: {script}")
    return path.read_text(encoding="utf-8")


def _io(io: Mapping[str, Any]) -> dict[str, Any]:
    provider = str(io.get("storage_provider", "minio.default"))
    kind, _, ident = provider.partition(".")
    storage = ident or "default"
    if kind not in ("minio", "s3") and ident:
        storage = provider
    out: dict[str, Any] = {"storage": storage, "path": io.get("path", "")}
    for key in ("suffix", "prefix"):
        if io.get(key):
            out[key] = list(io[key])
    return out


def _storage(providers: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("minio", "s3"):
        for ident, conf in (providers.get(kind) or {}).items():
            conf = conf or {}
            out[str(ident)] = {
                "type": "s3",
                "endpoint": conf.get("endpoint"),
                "access_key": conf.get("access_key"),
                "secret_key": conf.get("secret_key"),
                "region": conf.get("region") or "us-east-1",
            }
    for ident, conf in (providers.get("webdav") or {}).items():
        out[f"webdav.{ident}"] = _webdav(str(ident), conf or {})
    return out


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
