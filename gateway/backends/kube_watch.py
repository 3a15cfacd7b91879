"""One bounded watch stream on the Kubernetes API, read in a worker thread."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import watch  # type: ignore[import-untyped]

from gateway.backends.kube_errors import reason
from gateway.config import Settings

log = logging.getLogger("gateway.kube")

Obj = dict[str, Any]


def watch_chunk(
    list_fn: Callable[..., Any],
    done: Callable[[Obj], bool],
    name: str,
    seconds: float,
    settings: Settings,
    kwargs: dict[str, Any],
) -> Obj | None:
    """One watch stream of at most `seconds` (runs in a worker thread).

    ``watch="true"`` in lower case, as kubectl sends it (the client's own `Watch` sends "True",
    which the API server accepts but simpler servers, such as the kmock emulator, do not).
    """
    end = time.monotonic() + seconds
    response = list_fn(
        watch="true",
        field_selector=f"metadata.name={name}",
        timeout_seconds=max(1, int(seconds)),
        _request_timeout=(settings.kube_request_timeout, max(0.1, seconds)),
        _preload_content=False,
        **kwargs,
    )
    try:
        for line in watch.watch.iter_resp_lines(response):
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":  # e.g. 410 Gone: start a new watch
                log.debug("watch on %s: error event %s", name, obj.get("message"))
                break
            if event.get("type") in ("ADDED", "MODIFIED"):
                if obj.get("metadata", {}).get("name") == name and done(obj):
                    return obj
            if time.monotonic() >= end:
                break
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:  # ended early: restarted
        log.debug("watch on %s ended: %s", name, reason(exc))
    finally:
        response.close()
        response.release_conn()
    return None
