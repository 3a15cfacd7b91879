"""The repository's Dockerfiles, model folders and service files, for the image tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODEL_IMAGES = ROOT / "model_images"
GATEWAY_DOCKERFILE = ROOT / "Dockerfile"
CPU_DOCKERFILES = sorted(MODEL_IMAGES.glob("*/Dockerfile"))
GPU_DOCKERFILES = sorted(MODEL_IMAGES.glob("*/Dockerfile.gpu"))
DOCKERFILES = [GATEWAY_DOCKERFILE, *CPU_DOCKERFILES, *GPU_DOCKERFILES]


def dockerfile_id(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _is_onnx_model(folder: Path) -> bool:
    services = yaml.safe_load((folder / "service.yaml").read_text(encoding="utf-8"))["services"]
    return any(s.get("runtime", "onnx") == "onnx" for s in services)


#: the model folders whose service runs on the ONNX runtime: each has a CPU and a GPU image
MODELS = sorted(
    p.parent.name for p in MODEL_IMAGES.glob("*/service.yaml") if _is_onnx_model(p.parent)
)


def service(model: str) -> dict[str, Any]:
    """The (only) service of ``model_images/<model>/service.yaml``, as plain YAML data."""
    data = yaml.safe_load((MODEL_IMAGES / model / "service.yaml").read_text(encoding="utf-8"))
    services = data["services"]
    assert len(services) == 1, f"{model}: one service per model folder"
    result: dict[str, Any] = services[0]
    return result
