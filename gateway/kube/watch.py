"""Watch streams on the Kubernetes API, read in a worker thread.

`watch_chunk` waits (bounded) for one named object to satisfy a condition; `follow` streams every
event of a kind from a resourceVersion on, for `Informer`. Both open the stream inside their error
handling: a read timeout or a dropped connection, at the open or later, ends the stream quietly
for the caller to start the next one; an API error answer (`ApiException`) is the caller's to
translate. ``watch="true"`` in lower case, as kubectl sends it (the client's own `Watch` sends
"True", which the API server accepts but simpler servers, such as the kmock emulator, do not).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import watch  # type: ignore[import-untyped]

from gateway.config import Settings
from gateway.kube.errors import reason

log = logging.getLogger("gateway.kube")

Obj = dict[str, Any]


class Gone(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again, then watch from there."""


def watch_chunk(
    list_fn: Callable[..., Any],
    done: Callable[[Obj], bool],
    name: str,
    seconds: float,
    settings: Settings,
    kwargs: dict[str, Any],
) -> Obj | None:
    """One watch stream of at most `seconds` (runs in a worker thread)."""
    end = time.monotonic() + seconds
    response = None
    try:
        response = list_fn(
            watch="true",
            field_selector=f"metadata.name={name}",
            timeout_seconds=max(1, int(seconds)),
            _request_timeout=(settings.kube_request_timeout, max(0.1, seconds)),
            _preload_content=False,
            **kwargs,
        )
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
        _close(response)
    return None


def follow(
    list_fn: Callable[..., Any],
    since: str,
    seconds: float,
    settings: Settings,
    emit: Callable[[Obj], None],
    kwargs: dict[str, Any],
    streams: set[Any],
    stopped: threading.Event,
) -> str:
    """Stream the events after resourceVersion `since` to `emit` for at most about `seconds`
    (runs in a worker thread); returns the last resourceVersion seen. Raises `Gone` on 410.
    The open stream is in `streams` meanwhile, for another thread to shut it down once it has set
    `stopped` (checked after the open, so a stream opened meanwhile ends too)."""
    response = None
    try:
        response = list_fn(
            watch="true",
            resource_version=since,
            allow_watch_bookmarks=True,
            timeout_seconds=max(1, int(seconds)),
            _request_timeout=(
                settings.kube_request_timeout,
                seconds + settings.kube_request_timeout,
            ),
            _preload_content=False,
            **kwargs,
        )
        streams.add(response)
        if stopped.is_set():
            return since
        for line in watch.watch.iter_resp_lines(response):
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                if obj.get("code") == 410:
                    raise Gone(str(obj.get("message") or "410 Gone"))
                log.debug("watch: error event %s", obj.get("message"))
                break
            since = str((obj.get("metadata") or {}).get("resourceVersion") or since)
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                emit(event)
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:  # ended: resumed
        log.debug("watch ended: %s", reason(exc))
    finally:
        streams.discard(response)
        _close(response)
    return since


def _close(response: Any) -> None:
    if response is not None:
        response.close()
        response.release_conn()
