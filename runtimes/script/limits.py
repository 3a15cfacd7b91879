"""What one run of a user's script may take: the FDL's ``limits:`` and their resolved values.

`ScriptLimits` is the optional ``limits:`` of a service definition (quantities as in
``memory: 512Mi``). `BoxLimits` is what the script runtime enforces (``RUNTIME_LIMITS``, JSON),
resolved by `resolve_limits` from the definition's limits and, where it sets none, from the
service's ``memory``, ``cpu`` and ``timeout`` and the defaults below. Each limit is a
``setrlimit`` on every process of the run: CPU seconds, address space, file size, open files,
and the number of processes (of the run's own user, so only where the script runs boxed).
"""

from __future__ import annotations

import math
import re

from pydantic import BaseModel, ConfigDict, Field

QUANTITY_PATTERN = r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|K|M|G|T)?$"
_FACTORS = {
    "": 1,
    "k": 1000,
    "K": 1000,
    "M": 1000**2,
    "G": 1000**3,
    "T": 1000**4,
    "Ki": 1024,
    "Mi": 1024**2,
    "Gi": 1024**3,
    "Ti": 1024**4,
}
DEFAULT_FILE_SIZE = 1024**3
DEFAULT_PROCESSES = 128
DEFAULT_OPEN_FILES = 1024


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes-style quantity ("512Mi", "1G", "1000") as a number of bytes."""
    match = re.fullmatch(QUANTITY_PATTERN, quantity)
    if match is None:
        raise ValueError(f"not a quantity: {quantity!r}")
    number = quantity[: len(quantity) - len(match.group(2) or "")]
    return int(float(number) * _FACTORS[match.group(2) or ""])


class ScriptLimits(BaseModel):
    """A service's ``limits:`` for each run of its script (every field optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_seconds: int | None = Field(default=None, ge=1, description="CPU time per process")
    memory: str | None = Field(
        default=None, pattern=QUANTITY_PATTERN, description="address space per process"
    )
    file_size: str | None = Field(
        default=None, pattern=QUANTITY_PATTERN, description="largest file a process may write"
    )
    processes: int | None = Field(default=None, ge=1, le=65536, description="processes at once")
    open_files: int | None = Field(default=None, ge=16, le=1048576)


class BoxLimits(BaseModel):
    """The limits the script runtime enforces on each run (all resolved to numbers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu_seconds: int = Field(default=300, ge=1)
    memory_bytes: int = Field(default=1024**3, ge=1024**2)
    file_size_bytes: int = Field(default=DEFAULT_FILE_SIZE, ge=1)
    processes: int = Field(default=DEFAULT_PROCESSES, ge=1)
    open_files: int = Field(default=DEFAULT_OPEN_FILES, ge=16)


def resolve_limits(
    limits: ScriptLimits | None, *, memory: str, cpu_cores: float, timeout: float
) -> BoxLimits:
    """The definition's `limits`, completed from the service's `memory`, `cpu_cores` and
    per-file `timeout` (CPU seconds: the timeout times the cores, at least one)."""
    given = limits or ScriptLimits()
    return BoxLimits(
        cpu_seconds=given.cpu_seconds or max(1, math.ceil(timeout * max(1.0, cpu_cores))),
        memory_bytes=quantity_bytes(given.memory or memory),
        file_size_bytes=quantity_bytes(given.file_size) if given.file_size else DEFAULT_FILE_SIZE,
        processes=given.processes or DEFAULT_PROCESSES,
        open_files=given.open_files or DEFAULT_OPEN_FILES,
    )
