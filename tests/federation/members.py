"""The environment of a member gateway in the federation tests: its data, cluster id and admin."""

from __future__ import annotations

from pathlib import Path


def member_env(data_dir: Path, cluster: str, admin: str, **extra: str) -> dict[str, str]:
    """``gateway serve``'s settings for one member (one ONNX thread each: they share 2 cores);
    ``extra``: more ``GATEWAY_*`` settings."""
    return {
        "GATEWAY_DATA_DIR": str(data_dir),
        "GATEWAY_CLUSTER_ID": cluster,
        "GATEWAY_ADMIN_TOKEN": admin,
        "GATEWAY_RUNTIME_THREADS": "1",
        **extra,
    }
