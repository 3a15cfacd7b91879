"""What the local backend does not do of a definition, said plainly (its `caveats`).

The local backend runs a service's runtime as a process on this machine: a script service runs
with this machine's tools, not inside the image its definition names, and ``enable_gpu`` has
a GPU only where this machine has one. These lines go to the log, to the service's state detail
and to the answer of ``POST/PUT /system/services``.
"""

from __future__ import annotations

import glob
import shutil

from gateway.services import ServiceSpec


def gpu_present() -> bool:
    """True when this machine has an NVIDIA GPU (its driver's ``nvidia-smi`` or device files)."""
    return shutil.which("nvidia-smi") is not None or bool(glob.glob("/dev/nvidia[0-9]*"))


def local_caveats(spec: ServiceSpec, *, has_gpu: bool) -> list[str]:
    """One line per thing the definition asks that a local process does not give."""
    lines = []
    where = f"service {spec.name!r}"
    image = spec.image or next(iter(spec.variants.values()), None)
    if spec.runtime == "script" and image:
        lines.append(
            f"{where}: runs as a process on this machine, without its image {image!r} "
            "(the script sees this machine's tools, not the image's)"
        )
    if spec.enable_gpu and not has_gpu:
        lines.append(f"{where}: enable_gpu is set but this machine has no GPU: it runs on the CPU")
    return lines
