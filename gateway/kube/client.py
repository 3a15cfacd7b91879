"""KubeApi: the Kubernetes API as the backends use it, with its faults translated at this boundary.

Blocking calls of the official client run in a worker thread (`asyncio.to_thread`) with a request
timeout, so the event loop never waits on the API server. 5xx answers, 429, timeouts and connection
errors are retried a bounded number of times with backoff, then become `UpstreamError` (the API
server answered badly) or `Unavailable` (it did not answer). 404 and 409 become `NotFound` and
`Conflict` for the caller to handle (a delete tolerates 404, a create turns 409 into a patch).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import urllib3
from kubernetes import client, config  # type: ignore[import-untyped]
from kubernetes.client.rest import ApiException  # type: ignore[import-untyped]

from gateway.config import Settings
from gateway.errors import (
    Conflict,
    NotFound,
    Unavailable,
    UpstreamError,
)
from gateway.kube.errors import reason, translate
from gateway.kube.watch import watch_chunk
from gateway.retry import RetryPolicy, retry

log = logging.getLogger("gateway.kube")

Obj = dict[str, Any]

_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


def _transient(error: BaseException) -> bool:
    """An API answer of `_RETRIED_STATUS`, or no answer at all."""
    cause = error.__cause__
    if isinstance(cause, ApiException):
        return cause.status in _RETRIED_STATUS
    return isinstance(cause, urllib3.exceptions.HTTPError | OSError)


def load_api_client(settings: Settings) -> Any:
    """An `ApiClient`: in-cluster config when in a pod, else `settings.kubeconfig` or ~/.kube."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        path = str(settings.kubeconfig) if settings.kubeconfig else None
        try:
            config.load_kube_config(config_file=path, client_configuration=configuration)
        except (config.ConfigException, OSError) as exc:
            raise Unavailable(
                f"no Kubernetes configuration (not in a cluster, kubeconfig {path or '~/.kube'}): "
                f"{exc}",
                retry_after=None,
            ) from exc
    return api_client_for(configuration)


def api_client_for(configuration: Any) -> Any:
    """An `ApiClient` on `configuration`, without urllib3's hidden retries (ours are bounded)."""
    configuration.retries = False
    return client.ApiClient(configuration)


class KubeApi:
    """Async calls on the Kubernetes API with bounded retries and translated errors."""

    def __init__(
        self,
        settings: Settings,
        api_client: Any | None = None,
        *,
        attempts: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self._settings = settings
        self._api_client = api_client
        self._retry = RetryPolicy(first_delay=backoff, attempts=attempts)
        self._backoff = backoff

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def api_client(self) -> Any:
        """The official client's `ApiClient`, created on first use."""
        if self._api_client is None:
            self._api_client = load_api_client(self._settings)
        return self._api_client

    def custom(self) -> Any:
        return client.CustomObjectsApi(self.api_client)

    def apps(self) -> Any:
        return client.AppsV1Api(self.api_client)

    def core(self) -> Any:
        return client.CoreV1Api(self.api_client)

    def autoscaling(self) -> Any:
        return client.AutoscalingV2Api(self.api_client)

    def discovery(self) -> Any:
        return client.DiscoveryV1Api(self.api_client)

    async def call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        """Run `fn(*args, **kwargs)` (a client method) in a thread; `what` names it in errors."""
        result = await self._call(what, fn, args, kwargs)
        try:
            parsed = json.loads(result) if result else {}
        except ValueError as exc:
            raise UpstreamError(f"Kubernetes API: {what}: the answer is not JSON") from exc
        return parsed if isinstance(parsed, dict) else {}

    async def call_text(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """Like `call`, for the API calls that answer plain text (pod logs)."""
        return (await self._call(what, fn, args, kwargs)).decode("utf-8", "replace")

    async def _call(
        self, what: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> bytes:
        kwargs.setdefault("_request_timeout", self._settings.kube_request_timeout)
        kwargs["_preload_content"] = False  # plain JSON dicts, never the client's models

        async def attempt() -> bytes:
            try:
                return await asyncio.to_thread(_raw_call, fn, args, kwargs)
            except ApiException as exc:
                raise translate(exc, what) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise Unavailable(f"Kubernetes API: {what}: no answer ({reason(exc)})") from exc

        def on_retry(error: BaseException, retries: int, delay: float) -> None:
            log.warning("Kubernetes API: %s: %s; retry %d in %.1f s", what, error, retries, delay)

        return await retry(attempt, self._retry, transient=_transient, on_retry=on_retry)

    async def create_or_patch(
        self,
        what: str,
        create: Callable[[Obj], Any],
        patch: Callable[[Obj], Any],
        body: Obj,
        *,
        create_first: bool = True,
    ) -> Obj:
        """Idempotent apply: create (409: patch), or patch (404: create) when `create_first` is
        false, as the reconcile loop does for objects that usually exist."""
        if create_first:
            try:
                return await self.call(f"create {what}", create, body)
            except Conflict:
                return await self.call(f"patch {what}", patch, body)
        try:
            return await self.call(f"patch {what}", patch, body)
        except NotFound:
            return await self.call(f"create {what}", create, body)

    async def delete(self, what: str, fn: Callable[..., Any], *args: Any) -> bool:
        """Delete an object; False if it was already gone (404 is not an error here)."""
        try:
            await self.call(f"delete {what}", fn, *args, propagation_policy="Background")
        except NotFound:
            return False
        return True

    async def delete_jobs(self, label_selector: str) -> int:
        """Delete the batch Jobs matching `label_selector`, finished ones included (their pods go
        with them: propagationPolicy Background); returns how many were deleted."""
        batch = client.BatchV1Api(self.api_client)
        namespace = self._settings.kube_namespace
        listing = await self.call(
            f"list Jobs {label_selector}",
            batch.list_namespaced_job,
            namespace,
            label_selector=label_selector,
        )
        deleted = 0
        for job in listing.get("items") or []:
            name = job["metadata"]["name"]
            where = f"Kubernetes Job {namespace}/{name}"
            deleted += await self.delete(where, batch.delete_namespaced_job, name, namespace)
        return deleted

    async def watch_until(
        self,
        what: str,
        list_fn: Callable[..., Any],
        done: Callable[[Obj], bool],
        *,
        deadline: float,
        name: str,
        **kwargs: Any,
    ) -> Obj | None:
        """Watch objects until one named `name` satisfies `done` or `deadline` (monotonic) passes.

        A watch that ends early (server timeout, dropped connection) is restarted until the
        deadline. Returns the object, or None on the deadline.
        """
        while (remaining := deadline - time.monotonic()) > 0:
            chunk = min(remaining, 10.0)
            try:
                found = await asyncio.to_thread(
                    watch_chunk, list_fn, done, name, chunk, self._settings, kwargs
                )
            except ApiException as exc:
                error = translate(exc, what)
                if exc.status not in _RETRIED_STATUS:
                    raise error from exc
                found = None
                await asyncio.sleep(min(self._backoff, max(0.0, deadline - time.monotonic())))
            if found is not None:
                return found
        return None

    async def pod_logs(self, label_selector: str, lines: int) -> list[str]:
        """The last `lines` lines of the runtime container of the newest pod matching."""
        namespace = self._settings.kube_namespace
        core = self.core()
        pods = await self.call(
            f"list pods {label_selector}",
            core.list_namespaced_pod,
            namespace,
            label_selector=label_selector,
        )
        items = sorted(
            pods.get("items") or [],
            key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""),
        )
        if not items:
            return []
        pod = items[-1]["metadata"]["name"]
        text = await self.call_text(
            f"read log of pod {namespace}/{pod}",
            core.read_namespaced_pod_log,
            pod,
            namespace,
            container="runtime",
            tail_lines=lines,
        )
        return text.splitlines()[-lines:]

    def close(self) -> None:
        if self._api_client is not None:
            self._api_client.close()
            self._api_client = None


def _raw_call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    """Call `fn` (with ``_preload_content=False``) and read its answer (in a worker thread)."""
    response = fn(*args, **kwargs)
    try:
        return bytes(response.data or b"")
    finally:
        response.release_conn()
