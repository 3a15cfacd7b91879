"""What the gateway may do in its namespace: the verbs each part uses, checked once at start.

`KNATIVE`, `DEPLOYMENT` and `JOBS` list the (API group, resource, verb) the code calls; the Role in
manifests/base/role.yaml grants exactly their union (a test holds the two together). `check_access`
runs before a backend's first write: a namespace that does not exist, or a verb the ServiceAccount
lacks (one SelfSubjectAccessReview per verb), is one clear error instead of a 404 or a 403 at
some later call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, NamedTuple

from kubernetes import client  # type: ignore[import-untyped]
from kubernetes.client.rest import ApiException  # type: ignore[import-untyped]

from gateway.errors import NotFound, Unavailable, UpstreamError
from gateway.kube.client import KubeApi


class Verb(NamedTuple):
    group: str
    resource: str  # "resource" or "resource/subresource"
    verb: str


def _verbs(group: str, resource: str, *verbs: str) -> tuple[Verb, ...]:
    return tuple(Verb(group, resource, verb) for verb in verbs)


WATCHED = ("list", "watch")  # the Informer of each kind
# the Secret that carries a service's own `secrets` into its pods (gateway/kube/secrets.py:
# created, replaced whole on each apply, deleted with the service), and the one of its runtime
# token (created, patched on each apply, deleted with the service)
SERVICE_SECRETS = _verbs("", "secrets", "create", "update", "patch", "delete")
KNATIVE = (
    *_verbs("serving.knative.dev", "services", "create", "patch", "delete", *WATCHED),
    *SERVICE_SECRETS,
    *_verbs("", "pods", "list"),  # logs: the newest pod
    *_verbs("", "pods/log", "get"),
)
DEPLOYMENT = (
    *_verbs("apps", "deployments", "create", "patch", "delete", *WATCHED),
    *SERVICE_SECRETS,
    # its Service and HPA name the Deployment as owner with blockOwnerDeletion, which admission
    # (OwnerReferencesPermissionEnforcement) allows only with update on the owner's finalizers
    *_verbs("apps", "deployments/finalizers", "update"),
    *_verbs("", "services", "create", "patch", "delete"),
    *_verbs("autoscaling", "horizontalpodautoscalers", "create", "patch", "delete"),
    *_verbs("discovery.k8s.io", "endpointslices", "list"),
    *_verbs("", "pods", "list"),
    *_verbs("", "pods/log", "get"),
)
JOBS = (
    # the async path's Jobs (get: a Job found on create after a restart; list/watch: its watch),
    # and `rm` deletes a service's finished Jobs with it (list + delete)
    *_verbs("batch", "jobs", "create", "get", "delete", *WATCHED),
    *_verbs("", "secrets", "create", "patch"),  # the storage credentials the Jobs' pods read
)


async def check_access(kube: KubeApi, needs: Iterable[Verb]) -> None:
    """Raise a clear `Unavailable` if the namespace is missing or a verb in `needs` is denied."""
    namespace = kube.settings.kube_namespace
    core = kube.core()
    try:
        await kube.call(f"read namespace {namespace}", core.read_namespace, namespace)
    except NotFound as exc:
        raise Unavailable(
            f"Kubernetes namespace {namespace!r} does not exist (GATEWAY_KUBE_NAMESPACE): "
            f"create it (kubectl create namespace {namespace}) or choose another",
            retry_after=None,
        ) from exc
    except UpstreamError as exc:
        cause = exc.__cause__
        if not isinstance(cause, ApiException) or cause.status != 403:
            raise
        # 403: a namespaced Role cannot read namespaces; the reviews below still tell
    authorization = client.AuthorizationV1Api(kube.api_client)
    wanted = sorted(set(needs))
    answers = await asyncio.gather(*(_allowed(kube, authorization, v) for v in wanted))
    denied = [v for v, allowed in zip(wanted, answers, strict=True) if not allowed]
    if denied:
        listed = ", ".join(f"{v.verb} {v.group or 'core'}/{v.resource}" for v in denied)
        raise Unavailable(
            f"the gateway's Kubernetes account may not {listed} in namespace {namespace!r} "
            "(grant them with the Role in manifests/base/role.yaml)",
            retry_after=None,
        )


async def _allowed(kube: KubeApi, authorization: Any, verb: Verb) -> bool:
    resource, _, subresource = verb.resource.partition("/")
    attributes = {
        "namespace": kube.settings.kube_namespace,
        "verb": verb.verb,
        "group": verb.group,
        "resource": resource,
    }
    if subresource:
        attributes["subresource"] = subresource
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": attributes},
    }
    answer = await kube.call(
        f"review access: {verb.verb} {verb.resource}",
        authorization.create_self_subject_access_review,
        body,
    )
    return bool((answer.get("status") or {}).get("allowed"))


class AccessCheck:
    """`check_access` for `needs`, once it has passed (a failed check runs again next time)."""

    def __init__(self, kube: KubeApi, needs: Iterable[Verb]) -> None:
        self._kube = kube
        self._needs = tuple(needs)
        self._passed = False
        self._lock = asyncio.Lock()

    async def ensure(self) -> None:
        if self._passed:
            return
        async with self._lock:
            if not self._passed:
                await check_access(self._kube, self._needs)
                self._passed = True
