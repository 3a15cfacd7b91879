"""Errors of the ONNX runtime: one tree, each class fixing its HTTP status and stable code.

    ServingError                 500 internal_error
     ├── BadRequest              400 bad_request
     ├── NotFound                404 not_found
     ├── MethodNotAllowed        405 method_not_allowed
     ├── PayloadTooLarge         413 payload_too_large
     ├── UnsupportedMediaType    415 unsupported_media_type
     ├── InvalidImage            422 invalid_image
     ├── InvalidInput            422 invalid_input
     ├── Overloaded              429 overloaded      (Retry-After)
     └── NotReady                503 not_ready       (Retry-After)

``app.py`` renders every one of them with a single handler.
"""

from __future__ import annotations

from typing import ClassVar


class ServingError(Exception):
    """Base of every error the runtime answers; ``message`` is safe to show to clients."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` when set)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class BadRequest(ServingError):
    """The request is malformed (bad JSON, bad query parameter, empty body...)."""

    status_code = 400
    code = "bad_request"


class NotFound(ServingError):
    """Unknown route or model name."""

    status_code = 404
    code = "not_found"


class MethodNotAllowed(ServingError):
    """The route exists but not with this method."""

    status_code = 405
    code = "method_not_allowed"


class PayloadTooLarge(ServingError):
    """The body, the number of files or an image's pixel count is over its limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ServingError):
    """The Content-Type is not one ``/predict`` accepts."""

    status_code = 415
    code = "unsupported_media_type"


class InvalidImage(ServingError):
    """The bytes are not an image Pillow can decode (corrupt, truncated, unknown format)."""

    status_code = 422
    code = "invalid_image"


class InvalidInput(ServingError):
    """Well-formed request whose tensors do not fit the model (shape, datatype, names)."""

    status_code = 422
    code = "invalid_input"


class Overloaded(ServingError):
    """The batcher's queue is full; the client should retry later."""

    status_code = 429
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class NotReady(ServingError):
    """The model is not loaded yet (or is shutting down)."""

    status_code = 503
    code = "not_ready"

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)
