"""ScriptSettings: how a script runtime is configured (``RUNTIME_*`` environment variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtimes.script.box import DEFAULT_UID_BASE, SLOTS
from runtimes.script.limits import BoxLimits


class ScriptSettings(BaseSettings):
    """Settings of one script runtime process, read once at start and passed down."""

    model_config = SettingsConfigDict(env_prefix="RUNTIME_", frozen=True, extra="ignore")

    name: str = Field(description="the service name")
    script: str = Field(min_length=1, description="the shell script's text")
    shell: str = "/bin/sh"
    item_timeout: float = Field(default=300.0, gt=0, description="seconds per input file")
    threads: int = Field(default=1, ge=1, le=SLOTS, description="scripts running at once")
    environment: dict[str, str] = Field(
        default_factory=dict, description="the service's declared environment (JSON)"
    )
    secret_names: tuple[str, ...] = Field(
        default=(), description="the service's secrets, set in this environment (JSON list)"
    )
    limits: BoxLimits = Field(default_factory=BoxLimits, description="per run (JSON)")
    box_uid_base: int = Field(
        default=DEFAULT_UID_BASE, ge=65536, description="first uid of the runs' own users"
    )
    max_body_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_output_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    log_tail_bytes: int = Field(default=4096, ge=0)
    host: str = "0.0.0.0"
    port: int = 8080
    unix_socket: Path | None = Field(
        default=None, description="serve HTTP on this Unix socket instead of host and port"
    )
    log_level: str = "info"
    token: SecretStr | None = Field(
        default=None, description="asked of every caller but the health routes (runtimes.auth)"
    )
