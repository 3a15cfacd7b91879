"""Mapping of OSCAR's FDL (``functions: oscar: [{<cluster>: {...}}]``) onto our FDL model.

OSCAR users bring their files unchanged: each OSCAR service becomes a ``runtime: script`` service
(its ``script`` path is read and embedded, as oscar-cli does), unless it names our ``runtime:
onnx`` with its model, labels and preprocessing. Every OSCAR field is either mapped (the table
in `_service`) or named in a warning, "service 'x': field 'y' is not supported here and was
ignored": nothing is dropped silently. The warnings are returned as data (`Mapped`), for the
caller to log and to put in its answer. A ``webdav`` storage provider (dCache's among them) is the
store ``webdav.<id>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.errors import InvalidDefinition
from gateway.oscar_fields import (
    NATIVE_FIELDS,
    SERVER_SET,
    UNSUPPORTED,
    expose,
    io_binding,
    storage,
)

_OURS_ONLY = {"runtime", "kube_labels", "secrets", "ephemeral_storage", "cannot_run"}
_OSCAR_ONLY = {
    "synchronous",
    "expose",
    "ephemeral_storage_request",
    "image_pull_secrets",
    "annotations",
    *UNSUPPORTED,
    *SERVER_SET,
}


@dataclass(frozen=True, slots=True)
class Mapped:
    """Our ``{services, storage}`` mapping and what was not taken over, one line each."""

    document: dict[str, Any]
    warnings: tuple[str, ...]


def is_oscar(data: Mapping[str, Any]) -> bool:
    """True for an OSCAR FDL document."""
    return "functions" in data or "storage_providers" in data


def looks_like_oscar_service(service: Mapping[str, Any]) -> bool:
    """True for one OSCAR service object (as OSCAR's API and oscar-cli send it); an object with
    fields only ours has (``runtime``, ``kube_labels``, ``secrets``...) is ours."""
    if _OURS_ONLY & set(service):
        return False
    if _OSCAR_ONLY & set(service) or ("script" in service and "runtime" not in service):
        return True
    if "environment" in service and isinstance(service["environment"], Mapping):
        if {"variables", "Variables", "secrets"} & set(service["environment"]):
            return True
    bindings = [*(service.get("input") or []), *(service.get("output") or [])]
    return any(isinstance(io, Mapping) and "storage_provider" in io for io in bindings)


def single_service_document(service: Mapping[str, Any]) -> dict[str, Any]:
    """One OSCAR service object (the API's body; oscar-cli embeds ``storage_providers`` and
    ``clusters`` in it, and names its cluster in ``cluster_id``) as an OSCAR FDL document."""
    body = {k: v for k, v in service.items() if k not in ("storage_providers", "clusters")}
    cluster = str(service.get("cluster_id") or "api")
    document: dict[str, Any] = {"functions": {"oscar": [{cluster: body}]}}
    for key in ("storage_providers", "clusters"):
        if service.get(key):
            document[key] = service[key]
    return document


def oscar_to_native(
    data: Mapping[str, Any],
    *,
    source: str,
    base_dir: Path | None,
    cluster_id: str | None = None,
) -> Mapped:
    """Translate an OSCAR FDL mapping into our ``{services, storage}`` mapping."""
    warnings: list[str] = []
    for key in sorted(set(data) - {"functions", "storage_providers", "clusters"}):
        warnings.append(f"{source}: top-level field {key!r} is not supported here and was ignored")
    functions = data.get("functions") or {}
    entries = functions.get("oscar") if isinstance(functions, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidDefinition(f"{source}: OSCAR FDL needs 'functions: oscar: [...]'")
    for key in sorted(set(functions) - {"oscar"}):
        warnings.append(f"{source}: functions.{key} is not supported here and was ignored")
    clusters = data.get("clusters") or {}
    services = []
    for name, service in _pick_clusters(entries, source, cluster_id, warnings):
        out, notes = _service(service, source=source, base_dir=base_dir)
        if clusters:
            out["clusters"] = clusters
        services.append(out)
        warnings.extend(f"service {name!r}: {note}" for note in notes)
    stores, notes = storage(data.get("storage_providers") or {})
    warnings.extend(notes)
    return Mapped({"services": services, "storage": stores}, tuple(warnings))


def _pick_clusters(
    entries: list[Any], source: str, cluster_id: str | None, warnings: list[str]
) -> list[tuple[str, Mapping[str, Any]]]:
    """One entry per service name: the one for `cluster_id`, else the first declared."""
    by_name: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            raise InvalidDefinition(
                f"{source}: each functions.oscar item is {{<cluster>: service}}"
            )
        ((cluster, service),) = entry.items()
        if not isinstance(service, Mapping):
            raise InvalidDefinition(f"{source}: an OSCAR service must be a mapping")
        by_name.setdefault(str(service.get("name")), []).append((str(cluster), service))
    picked = []
    for name, declared in by_name.items():
        chosen = next((d for d in declared if d[0] == cluster_id), declared[0])
        if len(declared) > 1:
            others = ", ".join(repr(c) for c, _ in declared if c != chosen[0])
            warnings.append(
                f"service {name!r}: declared for several clusters; took cluster {chosen[0]!r} "
                f"(set GATEWAY_CLUSTER_ID to pick another), ignored {others}"
            )
        picked.append((name, chosen[1]))
    return picked


def _service(
    svc: Mapping[str, Any], *, source: str, base_dir: Path | None
) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    out: dict[str, Any] = {k: svc[k] for k in NATIVE_FIELDS if k in svc}
    out.setdefault("runtime", "script")
    for key, value in svc.items():
        if key in NATIVE_FIELDS or key in _MAPPED:
            continue
        if key in SERVER_SET:
            if value and key != "cluster_id":
                notes.append(f"field {key!r} is set by the server, the value given was ignored")
        elif key in UNSUPPORTED:
            if value:
                notes.append(f"field {key!r} is not supported here and was ignored")
        else:
            notes.append(f"unknown field {key!r} is not supported here and was ignored")
    if "cpu" in svc:
        out["cpu"] = str(svc["cpu"])
    if svc.get("ephemeral_storage_request"):
        out["ephemeral_storage"] = str(svc["ephemeral_storage_request"])
    if isinstance(svc.get("labels"), Mapping):  # OSCAR's Kubernetes labels
        out["labels"] = {str(k): str(v) for k, v in svc["labels"].items()}
    elif svc.get("labels"):  # our labels file
        out["labels"] = svc["labels"]
    if isinstance(svc.get("annotations"), Mapping):
        out["annotations"] = {str(k): str(v) for k, v in svc["annotations"].items()}
    if svc.get("image_pull_secrets"):
        out["image_pull_secrets"] = [str(s) for s in svc["image_pull_secrets"]]
    _scale(svc.get("synchronous") or {}, out, notes)
    _environment(svc.get("environment") or {}, out, notes)
    out["input"] = [io_binding(io, "input", notes) for io in svc.get("input") or []]
    out["output"] = [io_binding(io, "output", notes) for io in svc.get("output") or []]
    if svc.get("expose"):
        exposed = expose(svc["expose"], notes)
        if exposed is not None:
            out["expose"] = exposed
            out.setdefault("backend", "deployment")
    if svc.get("script"):
        out["script"] = _script_text(str(svc["script"]), source=source, base_dir=base_dir)
    elif out["runtime"] == "script" and not (out.get("expose") or {}).get("default_command"):
        reason = "a KServe service without a script" if svc.get("kserve") else "no script"
        out["cannot_run"] = reason
        notes.append(f"not run here ({reason}): listed in state 'failed'")
    return out, notes


_MAPPED = {
    "cpu",
    "script",
    "synchronous",
    "environment",
    "input",
    "output",
    "expose",
    "ephemeral_storage_request",
    "image_pull_secrets",
    "annotations",
    "labels",
}


def _scale(sync: Mapping[str, Any], out: dict[str, Any], notes: list[str]) -> None:
    if "min_scale" in sync:
        out["min_scale"] = int(sync["min_scale"])
    if int(sync.get("max_scale") or 0) > 0:  # OSCAR's 0: unlimited, our default bound
        out["max_scale"] = int(sync["max_scale"])
    for key in sorted(set(sync) - {"min_scale", "max_scale"}):
        notes.append(f"field 'synchronous.{key}' is not supported here and was ignored")


def _environment(env: Mapping[str, Any], out: dict[str, Any], notes: list[str]) -> None:
    """``Variables`` (oscar-cli's wire format) or ``variables`` -> environment; ``secrets`` ->
    secrets (never logged, never answered)."""
    variables: dict[str, str] = {}
    for key in ("Variables", "variables"):
        for name, value in (env.get(key) or {}).items():
            if isinstance(value, list | dict):
                notes.append(f"environment.{key}.{name} is not a single value: taken as text")
            variables[str(name)] = _text(value)
    out["environment"] = variables
    secrets = env.get("secrets") or env.get("Secrets") or {}
    if secrets:
        out["secrets"] = {str(k): _text(v) for k, v in secrets.items()}
    for key in sorted(set(env) - {"Variables", "variables", "secrets", "Secrets"}):
        notes.append(f"field 'environment.{key}' is not supported here and was ignored")


def _text(value: Any) -> str:
    """A YAML scalar as the string Go's YAML gives it (``false``, not Python's ``False``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _script_text(script: str, *, source: str, base_dir: Path | None) -> str:
    """oscar-cli embeds the file a ``script:`` path names; inline script text is kept as is."""
    if "\n" in script or base_dir is None:
        return script
    path = base_dir / script
    if not path.is_file():
        raise InvalidDefinition(f"{source}: script file not found: {script}")
    return path.read_text(encoding="utf-8")
