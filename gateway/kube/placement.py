"""Placement: which image a service runs on Kubernetes, and on which nodes (GPU, arm64, amd64).

`placement(spec, gpu_node_label)` is a pure function: the Kubernetes backends call it when they
build objects, and `check_variants(spec)` can run when a definition is loaded, so that a wrong
combination (GPU asked without a GPU image, arm64 asked without an arm64 image) is a clear
`InvalidDefinition` before anything reaches the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidDefinition
from gateway.services import ServiceSpec

GPU_RESOURCE = "nvidia.com/gpu"
ARCH_LABEL = "kubernetes.io/arch"
DEFAULT_GPU_NODE_LABEL = "nvidia.com/gpu.present=true"


@dataclass(frozen=True, slots=True)
class Placement:
    """The image, node selector, tolerations and extra resource limits of a service's pods."""

    image: str
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    extra_limits: dict[str, str] = field(default_factory=dict)


def placement(spec: ServiceSpec, gpu_node_label: str = DEFAULT_GPU_NODE_LABEL) -> Placement:
    """Choose the image and node constraints from `spec`'s image, variants, platform and GPU."""
    where = f"service {spec.name!r}"
    if spec.enable_gpu:
        image = spec.variants.get("gpu")
        if image is None:
            raise InvalidDefinition(
                f"{where}: enable_gpu is set but variants has no 'gpu' image "
                "(add variants: {gpu: <image built with CUDA>})"
            )
        selector = dict([_label(gpu_node_label)])
        if spec.platform != "multi":
            selector[ARCH_LABEL] = spec.platform
        return Placement(
            image=image,
            node_selector=selector,
            tolerations=({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},),
            extra_limits={GPU_RESOURCE: "1"},
        )
    if spec.platform == "arm64":
        image = spec.variants.get("arm64")
        if image is None:
            raise InvalidDefinition(
                f"{where}: platform arm64 needs variants.arm64 (an arm64 image); a multi-arch "
                "'image' runs anywhere with platform: multi"
            )
        return Placement(image=image, node_selector={ARCH_LABEL: "arm64"})
    if spec.platform == "amd64":
        image = spec.variants.get("amd64", spec.image)
        if image is None:
            raise InvalidDefinition(f"{where}: platform amd64 needs 'image' or variants.amd64")
        return Placement(image=image, node_selector={ARCH_LABEL: "amd64"})
    if spec.image is None:
        raise InvalidDefinition(
            f"{where}: the Kubernetes backends need 'image' (a multi-arch image for platform multi)"
        )
    return Placement(image=spec.image)


def check_variants(spec: ServiceSpec, gpu_node_label: str = DEFAULT_GPU_NODE_LABEL) -> None:
    """Raise `InvalidDefinition` if `spec` cannot be placed on a Kubernetes backend."""
    if spec.backend in ("knative", "deployment"):
        placement(spec, gpu_node_label)


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not key or not sep:
        raise InvalidDefinition(f"gpu node label {text!r} must be key=value")
    return key.strip(), value.strip()
