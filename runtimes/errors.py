"""The runtimes' one error tree (onnx, script, batch), and the one choice of the error shape.

    ServingError                 500 internal_error
     ├── BadRequest              400 bad_request
     ├── Unauthorized            401 unauthorized        (no or a wrong runtime token)
     ├── NotFound                404 not_found
     ├── MethodNotAllowed        405 method_not_allowed
     ├── PayloadTooLarge         413 payload_too_large
     ├── UnsupportedMediaType    415 unsupported_media_type
     ├── InvalidImage            422 invalid_image
     ├── InvalidInput            422 invalid_input
     ├── OutputTooLarge          422 output_too_large    (a script's output)
     ├── ScriptFailed            422 script_failed       (with the script's log tail)
     ├── Overloaded              429 overloaded          (Retry-After)
     ├── NotReady                503 not_ready           (Retry-After)
     ├── ScriptNotBoxed          503 script_not_boxed
     └── ScriptTimeout           504 script_timeout      (with the script's log tail)

Every error is answered as `error_body` says: ``{"error": {"code", "message"[, "log"]}}``, except
on the Open Inference Protocol routes (`is_oip_path`), where it is ``{"error": "<message>"}``.
The gateway's `GatewayError` derives from `ServingError`, so both answer the same shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import orjson

if TYPE_CHECKING:
    from starlette.types import Send


class ServingError(Exception):
    """Base of every error a runtime (or the gateway) answers; ``message`` is safe to show."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(
        self, message: str, *, retry_after: float | None = None, log: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.log = log

    def headers(self) -> dict[str, str]:
        """Extra response headers (``Retry-After`` when set)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}

    def detail(self) -> dict[str, str]:
        """``{"code", "message"[, "log"]}``: the error in a body, a batch result or a record."""
        detail = {"code": self.code, "message": self.message}
        if self.log is not None:
            detail["log"] = self.log
        return detail


def is_oip_path(path: str) -> bool:
    """Whether ``path`` is an Open Inference Protocol route (``/v2``, ``/v2/...``): those answer
    errors as the protocol says, ``{"error": "<message>"}``."""
    return path == "/v2" or path.startswith("/v2/")


def error_body(error: ServingError, path: str) -> dict[str, object]:
    """The JSON body answering `error` on a request for `path` (the one place the shape is
    chosen)."""
    if is_oip_path(path):
        return {"error": error.message}
    return {"error": error.detail()}


async def send_error(send: Send, error: ServingError, path: str) -> None:
    """Answer `error` from ASGI middleware, before any application ran (`error_body`'s shape)."""
    body = orjson.dumps(error_body(error, path))
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BadRequest(ServingError):
    """The request is malformed (bad JSON, bad query parameter, empty body...)."""

    status_code = 400
    code = "bad_request"


class Unauthorized(ServingError):
    """The caller did not send the runtime's token (`runtimes.auth`)."""

    status_code = 401
    code = "unauthorized"


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


class OutputTooLarge(ServingError):
    """The script wrote more than the runtime may send back."""

    status_code = 422
    code = "output_too_large"


class ScriptFailed(ServingError):
    """The script exited with a non-zero status (``log``: the tail of its output)."""

    status_code = 422
    code = "script_failed"


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


class ScriptNotBoxed(ServingError):
    """A run cannot be boxed as configured (e.g. its uid belongs to an account)."""

    status_code = 503
    code = "script_not_boxed"


class ScriptTimeout(ServingError):
    """The script ran past its time limit and was killed (``log``: the tail of its output)."""

    status_code = 504
    code = "script_timeout"
