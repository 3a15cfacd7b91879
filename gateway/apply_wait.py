"""Waiting for readiness on ``PUT/POST /system/services?wait=SECONDS[&rollback=true]``.

Without ``wait`` an apply answers at once; a Kubernetes service is then ``starting`` (202) until
the cluster makes it ready. With ``wait`` the answer comes once every service is ready, or as an
error that says which one failed (502) or was not ready in time (504) and that it was left in
place with its state, or rolled back with ``rollback=true``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from starlette.requests import Request

from gateway.backends.base import ServiceState
from gateway.errors import BadRequest, GatewayError, UpstreamError, UpstreamTimeout

MAX_WAIT = 600.0  # seconds; the CLI's client timeout is longer than what it asks for


def wait_options(request: Request) -> tuple[float | None, bool]:
    """``wait`` (None: answer at once) and ``rollback`` from the query string."""
    raw = request.query_params.get("wait")
    rollback = request.query_params.get("rollback", "false").lower() in ("true", "1", "yes")
    if raw is None:
        if rollback:
            raise BadRequest("rollback=true needs wait=SECONDS (what to wait for before undoing)")
        return None, False
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= MAX_WAIT:  # also refuses nan
        raise BadRequest(f"wait must be a number of seconds from 0 to {MAX_WAIT:.0f}")
    return wait, rollback


def usable(state: ServiceState) -> bool:
    """Ready to take requests (a scaled-to-zero service starts on the first one)."""
    return state.state in ("ready", "cold")


def in_progress(state: ServiceState) -> bool:
    """The cluster is still making it ready: the apply answers 202 (a service that failed at
    once, e.g. one declared but not run here, is done and answers 201/200 with its state)."""
    return state.state in ("starting", "restarting")


def readiness_error(
    unready: Sequence[tuple[str, ServiceState]], wait: float, *, rolled_back: bool
) -> GatewayError:
    """502 if a service failed, else 504, naming each service, its state and why."""
    outcome = (
        "rolled back"
        if rolled_back
        else "left in place (see `gateway ls`; fix and apply again, or `gateway rm`)"
    )
    parts = []
    for name, state in unready:
        why = f": {state.detail}" if state.detail else ""
        if state.state == "failed":
            parts.append(f"service {name!r} failed{why}")
        else:
            parts.append(f"service {name!r} not ready after {wait:g} s ({state.state}{why})")
    message = "; ".join(parts) + f"; {outcome}"
    if any(state.state == "failed" for _, state in unready):
        return UpstreamError(message)
    return UpstreamTimeout(message)
