"""inference-gateway: a serverless inference-serving gateway for AI models."""

__version__ = "0.1.0"
