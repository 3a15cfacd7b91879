"""The kmock emulator, taught the rules a real kube-apiserver (1.36) enforces and kmock does not.

Seen against a real API server and enforced here, so that the backends' tests fail where a cluster
would refuse:
- objects are created only in a namespace that exists (``404 namespaces "x" not found``), 201;
- resource quantities parse with Kubernetes' grammar (``512K`` is refused), as the official
  OpenAPI pattern says (the same pattern as in the Knative CRD);
- every write gets a ``resourceVersion`` (one counter, as etcd's revision), creates get a ``uid``
  and ``generation: 1``; a change of ``spec`` bumps ``metadata.generation`` (controllers then
  report ``status.observedGeneration``); the main resource ignores ``status`` and the ``status``
  subresource ignores everything else;
- lists and watches honour ``labelSelector`` (equality terms) and ``resourceVersion``; a watch
  ends after its ``timeoutSeconds``; one from a version older than `compacted` gets ``410 Gone``
  (an ERROR event), as after a compaction (`compact`);
- Job status rules: a finished Job has ``startTime``; ``Complete`` needs ``SuccessCriteriaMet``
  first and a ``completionTime``; ``Failed`` needs ``FailureTarget`` first;
- SelfSubjectAccessReviews are answered from `denied` (verbs the ServiceAccount lacks).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import k8s, rendering  # the emulator's extension points

QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)  # the OpenAPI pattern of io.k8s.apimachinery.pkg.api.resource.Quantity
NAMESPACES = kmock.resource("", "v1", "namespaces")
SSAR = kmock.resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
JOBS = kmock.resource("batch", "v1", "jobs")
NAMESPACE_PATH = re.compile(r"/api/v1/namespaces/([^/]+)")


class Refused(k8s.KubernetesError):
    """What the real API server answers with its status code and message."""


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = _merge(base.get(key), value)
        return out
    return copy.deepcopy(patch)


def _pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    template = (spec.get("template") or {}).get("spec")
    return [template] if isinstance(template, dict) else []


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


def job_status_errors(status: dict[str, Any]) -> list[str]:
    """What the Job status validation of a real API server refuses in `status`."""
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    errors = []
    if true & {"Complete", "Failed"} and not status.get("startTime"):
        errors.append("startTime: Required value: startTime is required for finished jobs")
    if "Complete" in true and "SuccessCriteriaMet" not in true:
        errors.append("conditions: cannot set Complete=True without SuccessCriteriaMet=true")
    if "Complete" in true and not status.get("completionTime"):
        errors.append("completionTime: Required value: completionTime is required for Complete")
    if "Failed" in true and "FailureTarget" not in true:
        errors.append("conditions: cannot set Failed=True without FailureTarget=true")
    if status.get("completionTime") and "Complete" not in true:
        errors.append("completionTime: Invalid value: completionTime only for Complete jobs")
    return errors


@attrs.define(kw_only=True)
class TruthfulEmulator(kmock.KubernetesEmulator):
    """`kmock.KubernetesEmulator` with the real API server's rules (see the module docstring)."""

    compacted: int = 0  # watches from a resourceVersion below this get 410 Gone
    denied: set[tuple[str, str, str]] = attrs.field(factory=set)  # (group, resource, verb)
    _versions: Any = attrs.field(factory=lambda: itertools.count(1), init=False)
    last_version: int = attrs.field(default=0, init=False)

    def add_namespace(self, name: str) -> None:
        self.objects[NAMESPACES, None, name] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "uid": str(uuid.uuid4())},
        }

    def _next_version(self) -> str:
        self.last_version = next(self._versions)
        return str(self.last_version)

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        try:
            if request.method == kmock.method.GET and (
                found := NAMESPACE_PATH.fullmatch(request.url.path)
            ):
                return self._namespace(found[1])  # kmock reads this path as a namespace
            if request.resource == SSAR and request.action == kmock.action.CREATE:
                return self._review(request)
            if request.action == kmock.action.CREATE and request.resource is not None:
                self._check_create(request)
            elif request.action == kmock.action.UPDATE and request.resource is not None:
                self._check_update(request)
        except Refused as exc:
            return await self._render_error(exc)
        response = await super()._handle(request)
        if request.action == kmock.action.CREATE and response.status == 200:
            response.set_status(201)
        return response

    def _namespace(self, name: str) -> aiohttp.web.StreamResponse:
        key = (NAMESPACES, None, name)
        if key not in self.objects or self.objects[key].deleted:
            raise Refused(404, "NotFound", f'namespaces "{name}" not found')
        return aiohttp.web.json_response(self.objects[key].raw)

    def _review(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        attributes = (request.data.get("spec") or {}).get("resourceAttributes") or {}
        resource = attributes.get("resource", "")
        if attributes.get("subresource"):
            resource += "/" + attributes["subresource"]
        key = (attributes.get("group", ""), resource, attributes.get("verb", ""))
        allowed = key not in self.denied
        answer = {**request.data, "status": {"allowed": allowed}}
        return aiohttp.web.json_response(answer, status=201)

    def _check_create(self, request: rendering.Request) -> None:
        data = request.data
        meta = data.setdefault("metadata", {})
        namespace = request.namespace or meta.get("namespace")
        if namespace and (
            (NAMESPACES, None, namespace) not in self.objects
            or self.objects[NAMESPACES, None, namespace].deleted
        ):
            raise Refused(404, "NotFound", f'namespaces "{namespace}" not found')
        self._check_quantities(data)
        data.pop("status", None) if request.resource != NAMESPACES else None
        meta.update(
            uid=str(uuid.uuid4()),
            generation=1,
            resourceVersion=self._next_version(),
            creationTimestamp="2026-11-30T00:00:00Z",
        )
        if namespace:
            meta["namespace"] = namespace

    def _check_update(self, request: rendering.Request) -> None:
        key = (request.resource, request.namespace, request.name)
        if (
            key not in self.objects
            or self.objects[key].deleted
            or not isinstance(request.data, dict)
        ):
            return  # kmock answers the 404 itself
        data, live = request.data, self.objects[key].raw
        if request.subresource == "status":
            for field in [k for k in data if k not in ("status", "metadata")]:
                del data[field]
            status = _merge(live.get("status") or {}, data.get("status") or {})
            if request.resource == JOBS and (errors := job_status_errors(status)):
                raise Refused(422, "Invalid", f"Job.batch {request.name!r} is invalid: {errors}")
        else:
            data.pop("status", None)
            merged = _merge(live, data)
            self._check_quantities(merged)
            if merged.get("spec") != live.get("spec"):
                generation = int(live.get("metadata", {}).get("generation") or 1) + 1
                data.setdefault("metadata", {})["generation"] = generation
        data.setdefault("metadata", {})["resourceVersion"] = self._next_version()

    def _check_quantities(self, obj: dict[str, Any]) -> None:
        for pod in _pod_specs(obj):
            for container in pod.get("containers") or []:
                resources = container.get("resources") or {}
                for kind in ("requests", "limits"):
                    for name, value in (resources.get(kind) or {}).items():
                        if not QUANTITY.match(str(value)):
                            raise Refused(
                                400,
                                "BadRequest",
                                f"quantities must match the regular expression "
                                f"'{QUANTITY.pattern}' ({kind}.{name}: {value!r}): unable to "
                                "parse quantity's suffix",
                            )

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        payload: Any = await super()._serve_list(request)
        selector = request.params.get("labelSelector", "")
        payload["items"] = [o for o in payload["items"] if _selected(o, selector)]
        payload["metadata"] = {"resourceVersion": str(self.last_version)}
        return payload

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[rendering.Payload]:
        raw = request.params.get("resourceVersion") or ""
        since = int(raw) if raw.isdigit() else 0
        selector = request.params.get("labelSelector", "")
        if since and since < self.compacted:
            yield b""
            gone = {"kind": "Status", "code": 410, "reason": "Expired",
                    "message": f"too old resource version: {since} ({self.compacted})"}  # fmt: skip
            yield {"type": "ERROR", "object": gone}
            return
        timeout = request.params.get("timeoutSeconds") or ""
        events = super()._serve_watch(request)
        try:
            async with asyncio.timeout(int(timeout) if timeout.isdigit() else None):
                async for event in events:
                    if not isinstance(event, dict):
                        yield event
                        continue
                    obj = event.get("object") or {}
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
                    if event.get("type") == "ADDED" and version.isdigit() and int(version) <= since:
                        continue  # the watcher has seen it already
                    if _selected(obj, selector):
                        yield event
        except TimeoutError:
            return  # the API server ends a watch after its timeoutSeconds
        finally:
            await events.aclose()

    def compact(self) -> None:
        """Forget the history up to now: a watch from an older resourceVersion gets 410 Gone."""
        self.compacted = self.last_version
