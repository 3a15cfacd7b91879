"""Kubernetes API faults as `GatewayError`s: what failed, the API's status and its message."""

from __future__ import annotations

import json

from kubernetes.client.rest import ApiException  # type: ignore[import-untyped]

from gateway.errors import (
    Conflict,
    GatewayError,
    InvalidDefinition,
    NotFound,
    Unavailable,
    UpstreamError,
)


def translate(exc: ApiException, what: str) -> GatewayError:
    """An `ApiException` as a `GatewayError` that says what failed and why."""
    status = int(exc.status or 0)
    detail = f"Kubernetes API: {what}: {status} {exc.reason or ''}".rstrip()
    message = _status_message(exc)
    if message:
        detail += f": {message}"
    if status == 404:
        return NotFound(detail)
    if status == 409:
        return Conflict(detail)
    if status in (400, 422):
        return InvalidDefinition(detail)
    if status in (401, 403):
        return UpstreamError(detail + " (check the gateway's ServiceAccount and RBAC)")
    if status in (429, 503):
        return Unavailable(detail)
    return UpstreamError(detail)


def _status_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return ""
    return str(body.get("message", ""))[:300] if isinstance(body, dict) else ""


def reason(exc: BaseException) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
