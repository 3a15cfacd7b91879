"""The Kubernetes objects the backends write, built as plain dicts from a `ServiceSpec`.

Pure functions, no API calls: tests validate their output against the official schemas. Every
object carries the labels `labels(name)`; the Knative Service is built in `knative_service`, the
Deployment, its ClusterIP Service and its HorizontalPodAutoscaler in `deployment_objects`, and the
``batch/v1`` Job that runs one gateway job (`batch_job`) in the service's image and placement.
"""

from __future__ import annotations

from typing import Any

from gateway.backends.pod_security import restrict
from gateway.backends.runtime_env import SCRIPT_ITEM_TIMEOUT, runtime_env
from gateway.backends.variants import Placement, placement
from gateway.config import Settings
from gateway.services import ServiceSpec

Obj = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "inference-gateway"
SERVICE_LABEL = "inference-gateway/service"
CONTAINER_PORT = 8080
READY_PATH = "/v2/health/ready"
DEFAULT_TIMEOUT_SECONDS = 300
MAX_TIMEOUT_SECONDS = 600  # Knative's default max-revision-timeout-seconds
HPA_CPU_UTILISATION = 80
MAX_CONTAINER_CONCURRENCY = 1000  # Knative's default container-concurrency-max-limit
JOB_LABEL = "inference-gateway/job"
JOB_COMMAND = ("python", "-m", "runtimes.batch")
JOB_BACKOFF_LIMIT = 2  # pods started again after a crash; each resumes where the last stopped
JOB_STARTUP_SECONDS = 300  # on top of the per-item time: scheduling, image pull, model load
JOB_TTL_SECONDS = 3600  # a finished Job (and its pod's log) stays an hour, then goes


def labels(name: str) -> dict[str, str]:
    """The labels on every object made for service `name`."""
    return {MANAGED_BY: MANAGER, SERVICE_LABEL: name, "app.kubernetes.io/name": name}


def selector(name: str) -> str:
    """A label selector for the objects of service `name`."""
    return f"{MANAGED_BY}={MANAGER},{SERVICE_LABEL}={name}"


def container(spec: ServiceSpec, settings: Settings, where: Placement) -> Obj:
    """The runtime container: image, port 8080, ``RUNTIME_*`` env, resources, readiness probe."""
    env = runtime_env(
        spec,
        threads=max(1, runtime_threads_for(spec, settings)),
        max_body_bytes=settings.max_body_bytes,
        log_level=settings.log_level,
        with_paths=False,
    )
    requests = {"cpu": spec.cpu, "memory": spec.memory}
    return {
        "name": "runtime",
        "image": where.image,
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": [{"name": key, "value": value} for key, value in sorted(env.items())],
        "resources": {"requests": requests, "limits": {**requests, **where.extra_limits}},
        "readinessProbe": {
            "httpGet": {"path": READY_PATH, "port": CONTAINER_PORT},
            "periodSeconds": 2,
            "failureThreshold": 3,
        },
    }


def runtime_threads_for(spec: ServiceSpec, settings: Settings) -> int:
    """Inference threads in a pod: the override, else the service's cpu rounded up (not this
    host's core count, which says nothing about the node)."""
    if settings.runtime_threads:
        return settings.runtime_threads
    return max(1, -int(-spec.cpu_cores() // 1))


def pod_spec(spec: ServiceSpec, settings: Settings, where: Placement) -> Obj:
    """The pod spec shared by a Knative revision and a Deployment."""
    pod: Obj = {"containers": [container(spec, settings, where)]}
    if where.node_selector:
        pod["nodeSelector"] = dict(where.node_selector)
    if where.tolerations:
        pod["tolerations"] = [dict(t) for t in where.tolerations]
    return restrict(pod)


def timeout_seconds(spec: ServiceSpec) -> int:
    """The per-request timeout on the cluster side, in whole seconds (Knative caps it at 600)."""
    if spec.timeout is None:
        return DEFAULT_TIMEOUT_SECONDS
    return min(MAX_TIMEOUT_SECONDS, max(1, -int(-spec.timeout // 1)))


def knative_service(spec: ServiceSpec, settings: Settings) -> Obj:
    """A ``serving.knative.dev/v1`` Service that runs `spec` (scale to zero when min_scale is 0)."""
    where = placement(spec, settings.gpu_node_label)
    # Soft target: one full batch in flight per pod; hard limit: what the runtime would queue.
    batching = spec.batching
    target = batching.max_batch_size if batching.enabled else 2
    annotations = {
        "autoscaling.knative.dev/min-scale": str(spec.min_scale),
        "autoscaling.knative.dev/max-scale": str(spec.max_scale),
        "autoscaling.knative.dev/metric": "concurrency",
        "autoscaling.knative.dev/target": str(target),
    }
    revision = pod_spec(spec, settings, where)
    revision["containerConcurrency"] = min(
        MAX_CONTAINER_CONCURRENCY, max(target, batching.max_queue)
    )
    revision["timeoutSeconds"] = timeout_seconds(spec)
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {
            "name": spec.name,
            "namespace": settings.kube_namespace,
            "labels": labels(spec.name),
        },
        "spec": {
            "template": {
                "metadata": {"labels": labels(spec.name), "annotations": annotations},
                "spec": revision,
            }
        },
    }


def deployment_objects(spec: ServiceSpec, settings: Settings) -> tuple[Obj, Obj, Obj]:
    """The apps/v1 Deployment, the ClusterIP Service and the autoscaling/v2 HPA for `spec`."""
    where = placement(spec, settings.gpu_node_label)
    name, namespace = spec.name, settings.kube_namespace
    meta = {"name": name, "namespace": namespace, "labels": labels(name)}
    match = {SERVICE_LABEL: name}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": min_replicas(spec),
            "selector": {"matchLabels": match},
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": pod_spec(spec, settings, where),
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(meta),
        "spec": {
            "type": "ClusterIP",
            "selector": match,
            "ports": [
                {"name": "http", "port": 80, "targetPort": CONTAINER_PORT, "protocol": "TCP"}
            ],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": dict(meta),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas(spec),
            "maxReplicas": max(min_replicas(spec), spec.max_scale),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": HPA_CPU_UTILISATION,
                        },
                    },
                }
            ],
        },
    }
    return deployment, service, hpa


def job_deadline(spec: ServiceSpec, items: int) -> int:
    """activeDeadlineSeconds of a Job of `items` files: the service's timeout (else the
    default per request or per script run) per file, plus the start-up allowance."""
    default = SCRIPT_ITEM_TIMEOUT if spec.runtime == "script" else DEFAULT_TIMEOUT_SECONDS
    per_item = spec.timeout or default
    return JOB_STARTUP_SECONDS + -int(-(per_item * max(1, items)) // 1)


def batch_job(
    spec: ServiceSpec,
    settings: Settings,
    *,
    name: str,
    job_id: str,
    items: int,
    env: dict[str, str],
    secret: str | None,
) -> Obj:
    """The ``batch/v1`` Job that runs gateway job `job_id` (`items` files) of service `spec`.

    Its one pod runs ``python -m runtimes.batch`` in the service's image, with the image, the
    ``RUNTIME_*`` env, the resources and the node placement of the service's own pods, plus the
    ``JOB_*`` `env`; the object-store credentials come from the Secret `secret` (``envFrom``).
    ``restartPolicy: Never`` with a small ``backoffLimit``: the Job controller starts a new pod
    after a failure, which skips the items already recorded.
    """
    where = placement(spec, settings.gpu_node_label)
    pod = pod_spec(spec, settings, where)
    runner = pod["containers"][0]
    del runner["ports"], runner["readinessProbe"]  # it serves nothing: it runs and exits
    runner["name"] = "batch"
    runner["command"] = list(JOB_COMMAND)
    runner["env"] += [{"name": key, "value": value} for key, value in sorted(env.items())]
    if secret is not None:
        runner["envFrom"] = [{"secretRef": {"name": secret}}]
    pod["restartPolicy"] = "Never"
    pod["automountServiceAccountToken"] = False  # the pod never calls the Kubernetes API
    job_labels = {**labels(spec.name), JOB_LABEL: job_id}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.kube_namespace, "labels": job_labels},
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            "activeDeadlineSeconds": job_deadline(spec, items),
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "template": {"metadata": {"labels": job_labels}, "spec": pod},
        },
    }


def min_replicas(spec: ServiceSpec) -> int:
    """A Deployment is pre-warmed: at least one replica, whatever min_scale says."""
    return max(1, spec.min_scale)


def owned_by(obj: Obj, owner: Obj) -> Obj:
    """`obj` with an ownerReference to the Deployment `owner` (when the API server gave it a uid),
    so that deleting the Deployment lets the garbage collector delete `obj`."""
    uid = owner.get("metadata", {}).get("uid")
    if not uid:
        return obj
    reference = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": owner["metadata"]["name"],
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {**obj, "metadata": {**obj["metadata"], "ownerReferences": [reference]}}
