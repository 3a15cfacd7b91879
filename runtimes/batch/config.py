"""BatchSettings: what a Job's pod is told through ``JOB_*`` variables (the rest is in the
manifest object, so that a Job of ten thousand files stays small)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BatchSettings(BaseSettings):
    """Settings of one batch run, read once from the environment."""

    model_config = SettingsConfigDict(env_prefix="JOB_", frozen=True, extra="ignore")

    id: str = Field(min_length=1, description="the gateway's job id")
    manifest: str = Field(min_length=3, description="object key (bucket/path) of the work list")
    s3_endpoint: str | None = Field(default=None, description="None: AWS S3")
    s3_region: str = "us-east-1"
    log_level: str = "info"
