"""ONNX Runtime model server: one model per process, served over HTTP.

``python -m runtimes.onnx`` starts it from ``RUNTIME_*`` environment variables; ``create_app``
builds the Starlette application for tests and embedding.
"""
