"""The one error tree of the gateway; every failure a client sees is a `GatewayError`.

::

    GatewayError (500 internal_error)
    ├── BadRequest (400 bad_request)
    ├── Unauthorized (401 unauthorized)
    ├── Forbidden (403 forbidden)
    ├── NotFound (404 not_found)
    │   └── ServiceNotFound (404 service_not_found)
    ├── MethodNotAllowed (405 method_not_allowed)
    ├── Conflict (409 conflict)
    ├── PayloadTooLarge (413 payload_too_large)
    ├── HeadersTooLarge (431 headers_too_large)
    ├── UnsupportedMediaType (415 unsupported_media_type)
    ├── InvalidInput (422 invalid_input)
    │   └── InvalidDefinition (422 invalid_definition)
    ├── Overloaded (429 overloaded)            Retryable, Retry-After
    ├── Unavailable (503 unavailable)          Retryable, Retry-After
    ├── UpstreamError (502 upstream_error)
    └── UpstreamTimeout (504 upstream_timeout)

`Retryable` marks what the proxy (and clients) may retry. Client-library exceptions are translated
into this tree at the boundary where they arise (`proxy.py`, `backends/`).
"""

from __future__ import annotations

from typing import ClassVar

from runtimes.errors import ServingError


class GatewayError(ServingError):
    """Base of every error the gateway answers; rendered as ``{"error": {"code", "message"}}``
    (`runtimes.errors.error_body`: the runtimes' base, so both answer the same shapes)."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"


def error_for_status(status_code: int, message: str) -> GatewayError:
    """The error of this tree that answers ``status_code`` (an upstream's status, translated)."""
    for kind in _BY_STATUS:
        if kind.status_code == status_code:
            return kind(message)
    return UpstreamError(message)


class Retryable:
    """Marker: the same request may succeed if sent again later."""


class BadRequest(GatewayError):
    status_code = 400
    code = "bad_request"


class Unauthorized(GatewayError):
    status_code = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status_code = 403
    code = "forbidden"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"


class ServiceNotFound(NotFound):
    code = "service_not_found"


class MethodNotAllowed(GatewayError):
    status_code = 405
    code = "method_not_allowed"


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(GatewayError):
    status_code = 413
    code = "payload_too_large"


class HeadersTooLarge(GatewayError):
    status_code = 431
    code = "headers_too_large"


class UnsupportedMediaType(GatewayError):
    status_code = 415
    code = "unsupported_media_type"


class InvalidInput(GatewayError):
    status_code = 422
    code = "invalid_input"


class InvalidDefinition(InvalidInput):
    code = "invalid_definition"


class Overloaded(GatewayError, Retryable):
    status_code = 429
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class Unavailable(GatewayError, Retryable):
    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: float | None = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


class UpstreamError(GatewayError):
    status_code = 502
    code = "upstream_error"


class UpstreamTimeout(GatewayError):
    status_code = 504
    code = "upstream_timeout"


_BY_STATUS: tuple[type[GatewayError], ...] = (
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    InvalidInput,
    Overloaded,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
