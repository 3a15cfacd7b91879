"""The Kubernetes objects the backends write, built as plain dicts from a `ServiceSpec`.

Pure functions, no API calls: tests validate their output against the official schemas. Every
object carries the labels `labels(name)` over the service's own ``kube_labels``, and its
``annotations``; the Knative Service is built in `knative_service`, the Deployment, its ClusterIP
Service and its HorizontalPodAutoscaler in `deployment_objects` (an ``expose``d service runs its
own image and port: `gateway.kube.exposed`), the ``batch/v1`` Job that runs one gateway job
(`batch_job`) in the service's image and placement, and the Secret that carries the service's
``secrets`` into its pods (`service_secret`, through ``envFrom``).
"""

from __future__ import annotations

from typing import Any

from gateway.config import Settings
from gateway.kube.exposed import exposed_container
from gateway.kube.placement import Placement, placement
from gateway.kube.pod_security import restrict, restrict_container
from gateway.runtime_env import SCRIPT_ITEM_TIMEOUT, runtime_env
from gateway.services import ServiceSpec
from runtimes.auth import TOKEN_ENV

Obj = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "inference-gateway"
SERVICE_LABEL = "inference-gateway/service"
CONTAINER_PORT = 8080
GRPC_PORT = 8081  # the runtime's Open Inference Protocol gRPC port (Deployments only, see below)
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


def object_labels(spec: ServiceSpec) -> dict[str, str]:
    """The labels of the objects made for `spec`: its own ``kube_labels`` under ours."""
    return {**spec.kube_labels, **labels(spec.name)}


def metadata(spec: ServiceSpec, settings: Settings, **extra: Any) -> Obj:
    """``metadata`` of an object named after `spec`: namespace, labels, annotations."""
    meta: Obj = {"name": spec.name, "namespace": settings.kube_namespace, **extra}
    meta["labels"] = {**object_labels(spec), **meta.get("labels", {})}
    if spec.annotations:
        meta["annotations"] = dict(spec.annotations)
    return meta


def template_metadata(spec: ServiceSpec, annotations: dict[str, str] | None = None) -> Obj:
    """``metadata`` of a pod template: the service's labels, its annotations (ours win)."""
    meta: Obj = {"labels": object_labels(spec)}
    merged = {**spec.annotations, **(annotations or {})}
    if merged:
        meta["annotations"] = merged
    return meta


def secret_name(service: str) -> str:
    """The Secret that holds a service's ``secrets``."""
    return f"{service}-secrets"


def service_secret(spec: ServiceSpec, settings: Settings) -> Obj:
    """The ``v1`` Secret with the service's ``secrets`` (read by its pods through ``envFrom``)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name(spec.name),
            "namespace": settings.kube_namespace,
            "labels": object_labels(spec),
        },
        "type": "Opaque",
        "stringData": {key: value.get_secret_value() for key, value in spec.secrets.items()},
    }


def token_secret_name(service: str) -> str:
    """The Secret that holds a service's runtime token (`runtimes.auth`)."""
    return f"{service}-runtime-token"


def token_secret(spec: ServiceSpec, settings: Settings, token: str) -> Obj:
    """The ``v1`` Secret with the service's runtime `token` (read by its pods through
    ``secretKeyRef``, never written into the pod spec)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": token_secret_name(spec.name),
            "namespace": settings.kube_namespace,
            "labels": object_labels(spec),
        },
        "type": "Opaque",
        "stringData": {TOKEN_ENV: token},
    }


def token_env(service: str) -> Obj:
    """The runtime container's ``RUNTIME_TOKEN``, from the service's token Secret."""
    ref = {"name": token_secret_name(service), "key": TOKEN_ENV}
    return {"name": TOKEN_ENV, "valueFrom": {"secretKeyRef": ref}}


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
    runtime: Obj = {
        "name": "runtime",
        "image": where.image,
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": sorted(
            [*({"name": k, "value": v} for k, v in env.items()), token_env(spec.name)],
            key=lambda item: str(item["name"]),
        ),
        "resources": resources(spec, where),
        "readinessProbe": {
            "httpGet": {"path": READY_PATH, "port": CONTAINER_PORT},
            "periodSeconds": 2,
            "failureThreshold": 3,
        },
    }
    if spec.secrets:
        runtime["envFrom"] = [{"secretRef": {"name": secret_name(spec.name)}}]
    return runtime


def resources(spec: ServiceSpec, where: Placement) -> Obj:
    """Requests and limits: cpu, memory (and ephemeral storage) as asked, plus the GPU."""
    requests = {"cpu": spec.cpu, "memory": spec.memory}
    if spec.ephemeral_storage:
        requests["ephemeral-storage"] = spec.ephemeral_storage
    return {"requests": requests, "limits": {**requests, **where.extra_limits}}


def runtime_threads_for(spec: ServiceSpec, settings: Settings) -> int:
    """Inference threads in a pod: the override, else the service's cpu rounded up (not this
    host's core count, which says nothing about the node)."""
    if settings.runtime_threads:
        return settings.runtime_threads
    return max(1, -int(-spec.cpu_cores() // 1))


def pod_spec(spec: ServiceSpec, settings: Settings, where: Placement) -> Obj:
    """The pod spec shared by a Knative revision and a Deployment."""
    pod: Obj = {"containers": [container(spec, settings, where)]}
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in spec.image_pull_secrets]
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
        "metadata": metadata(spec, settings),
        "spec": {
            "template": {
                "metadata": template_metadata(spec, annotations),
                "spec": revision,
            }
        },
    }


def deployment_objects(spec: ServiceSpec, settings: Settings) -> tuple[Obj, Obj, Obj]:
    """The apps/v1 Deployment, the ClusterIP Service and the autoscaling/v2 HPA for `spec`."""
    where = placement(spec, settings.gpu_node_label)
    name = spec.name
    meta = metadata(spec, settings)
    match = {SERVICE_LABEL: name}
    pod = pod_spec(spec, settings, where)
    port = CONTAINER_PORT
    if spec.expose is not None:  # its own image, restricted too (Pod Security, see pod_spec)
        exposed = exposed_container(
            spec, where, resources=resources(spec, where), secret=secret_name(name)
        )
        pod["containers"] = [restrict_container(exposed, read_only_root=False)]
        port = spec.expose.api_port
    elif spec.runtime == "onnx":  # gRPC too: a Deployment may expose two ports (a Knative
        # revision only one, so Knative services are reached over HTTP alone)
        runtime = pod["containers"][0]
        runtime["ports"].append({"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"})
        runtime["env"] = sorted(
            [*runtime["env"], {"name": "RUNTIME_GRPC_PORT", "value": str(GRPC_PORT)}],
            key=lambda item: str(item["name"]),
        )
    ports = [{"name": "http", "port": 80, "targetPort": port, "protocol": "TCP"}]
    if spec.expose is None and spec.runtime == "onnx":
        ports.append(
            {"name": "grpc", "port": GRPC_PORT, "targetPort": GRPC_PORT, "protocol": "TCP"}
        )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": min_replicas(spec),
            "selector": {"matchLabels": match},
            "template": {"metadata": template_metadata(spec), "spec": pod},
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": dict(meta),
        "spec": {
            "type": "ClusterIP",
            "selector": match,
            "ports": ports,
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": dict(meta),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas(spec),
            "maxReplicas": max_replicas(spec),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": cpu_target(spec),
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
    runner["env"] = [e for e in runner["env"] if e["name"] != TOKEN_ENV]  # nobody calls it
    runner["name"] = "batch"
    runner["command"] = list(JOB_COMMAND)
    runner["env"] += [{"name": key, "value": value} for key, value in sorted(env.items())]
    if secret is not None:  # the storage credentials, next to the service's own secrets
        runner["envFrom"] = [*runner.get("envFrom", []), {"secretRef": {"name": secret}}]
    pod["restartPolicy"] = "Never"
    pod["automountServiceAccountToken"] = False  # the pod never calls the Kubernetes API
    job_labels = {**object_labels(spec), JOB_LABEL: job_id}
    template = template_metadata(spec)
    template["labels"] = job_labels
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(spec, settings, name=name, labels=job_labels),
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            "activeDeadlineSeconds": job_deadline(spec, items),
            "ttlSecondsAfterFinished": JOB_TTL_SECONDS,
            "template": {"metadata": template, "spec": pod},
        },
    }


def min_replicas(spec: ServiceSpec) -> int:
    """A Deployment is pre-warmed: at least one replica, whatever min_scale says (an exposed
    service: its ``expose.min_scale``)."""
    if spec.expose is not None:
        return spec.expose.min_scale
    return max(1, spec.min_scale)


def max_replicas(spec: ServiceSpec) -> int:
    """The HPA's ceiling (an exposed service: its ``expose.max_scale``)."""
    ceiling = spec.expose.max_scale if spec.expose is not None else spec.max_scale
    return max(min_replicas(spec), ceiling)


def cpu_target(spec: ServiceSpec) -> int:
    """The HPA's CPU utilisation target, percent (an exposed service: ``cpu_threshold``)."""
    return spec.expose.cpu_threshold if spec.expose is not None else HPA_CPU_UTILISATION


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
