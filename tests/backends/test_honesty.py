"""The local backend says what it leaves out of a definition: the image of a script service, a
GPU this machine does not have."""

from __future__ import annotations

from gateway.backends.honesty import local_caveats
from gateway.backends.local import LocalBackend
from gateway.config import Settings
from gateway.services import ServiceSpec

SCRIPT = "#!/bin/sh\necho hi\n"


def _spec(**fields: object) -> ServiceSpec:
    return ServiceSpec.model_validate(
        {"name": "svc", "runtime": "script", "script": SCRIPT, **fields}
    )


def test_a_script_service_with_an_image_runs_without_it() -> None:
    (line,) = local_caveats(_spec(image="ghcr.io/example/svc:1"), has_gpu=True)
    assert line.startswith("service 'svc': runs as a process on this machine, without its image")
    assert local_caveats(_spec(), has_gpu=True) == []


def test_enable_gpu_without_a_gpu_is_said_and_with_one_is_not() -> None:
    (line,) = local_caveats(_spec(enable_gpu=True), has_gpu=False)
    assert "enable_gpu is set but this machine has no GPU: it runs on the CPU" in line
    assert local_caveats(_spec(enable_gpu=True), has_gpu=True) == []


def test_an_onnx_service_with_an_image_has_nothing_to_say() -> None:
    spec = ServiceSpec.model_validate({"name": "m", "model": "m.onnx", "image": "img:1"})
    assert local_caveats(spec, has_gpu=True) == []


async def test_the_local_backend_gives_its_caveats() -> None:
    backend = LocalBackend(Settings(), has_gpu=False)
    try:
        lines = backend.caveats(_spec(image="img:1", enable_gpu=True))
    finally:
        await backend.aclose()
    assert len(lines) == 2
