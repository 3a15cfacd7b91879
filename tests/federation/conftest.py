"""Fixtures of the federation tests: a real S3 server (SeaweedFS)."""

from __future__ import annotations

from tests.seaweed import seaweed

__all__ = ["seaweed"]
