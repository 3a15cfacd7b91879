"""Open Inference Protocol v2 tensors: request JSON (and binary extension) <-> numpy.

Inputs may be flat or nested, JSON or binary (``Inference-Header-Content-Length``: the JSON
header, then each tensor's raw little-endian bytes in input order, sized by the input's
``parameters.binary_data_size``). Outputs are JSON unless the request asks for binary data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from runtimes.errors import BadRequest, InvalidInput
from runtimes.onnx.model import TensorInfo
from runtimes.onnx.tensors import OIP_TO_NUMPY, oip_datatype


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request."""

    id: str | None
    feeds: dict[str, np.ndarray]
    outputs: tuple[str, ...] | None
    binary_outputs: frozenset[str]


def parse_request(
    body: bytes, header_length: int | None, inputs: Sequence[TensorInfo], outputs: Sequence[str]
) -> InferRequest:
    """Decode ``body`` against the model's ``inputs``; checks names, shapes and datatypes."""
    binary = b""
    if header_length is not None:
        if not 0 <= header_length <= len(body):
            raise BadRequest("Inference-Header-Content-Length is larger than the body")
        body, binary = body[:header_length], body[header_length:]
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise BadRequest('an inference request needs an "inputs" list')
    expected = {info.name: info for info in inputs}
    feeds: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in document["inputs"]:
        if not isinstance(tensor, dict):
            raise BadRequest("each input must be an object")
        name = tensor.get("name")
        if not isinstance(name, str) or name not in expected:
            raise InvalidInput(f"unknown input {name!r}; the model takes {sorted(expected)}")
        array, offset = _decode_tensor(tensor, binary, offset)
        feeds[name] = fit_input(array, expected[name])
    missing = set(expected) - set(feeds)
    if missing:
        raise InvalidInput(f"missing input(s) {sorted(missing)}")
    if offset != len(binary):
        raise BadRequest("the binary data is longer than the inputs' binary_data_size")
    wanted, binary_outputs = _requested_outputs(document, outputs)
    request_id = document.get("id")
    return InferRequest(
        str(request_id) if request_id is not None else None, feeds, wanted, binary_outputs
    )


def _decode_tensor(tensor: dict[str, Any], binary: bytes, offset: int) -> tuple[np.ndarray, int]:
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise BadRequest(f"input {name!r} needs a shape: a list of non-negative integers")
    dtype = OIP_TO_NUMPY.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise InvalidInput(f"input {name!r}: unsupported datatype {datatype!r}")
    parameters = tensor.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    try:
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise BadRequest(f"input {name!r}: binary_data_size runs past the body")
            if size % dtype.itemsize:
                raise InvalidInput(f"input {name!r}: {size} bytes is not a whole number of items")
            little = dtype.newbyteorder("<")
            array = np.frombuffer(binary, little, count=size // dtype.itemsize, offset=offset)
            offset += size
        elif "data" in tensor:
            array = np.asarray(tensor["data"], dtype=dtype)
        else:
            raise BadRequest(f"input {name!r} has neither data nor binary_data_size")
        return array.reshape(shape), offset
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"input {name!r} does not match shape {shape}: {exc}") from None


def fit_input(array: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Check the rank and fixed dimensions; cast to the model's datatype when they differ."""
    if len(array.shape) != len(info.shape) or any(
        want not in (-1, got) for want, got in zip(info.shape, array.shape, strict=True)
    ):
        raise InvalidInput(
            f"input {info.name!r} has shape {list(array.shape)}; the model expects "
            f"{list(info.shape)} (-1: any)"
        )
    if array.dtype != info.dtype:
        array = array.astype(info.dtype)
    return np.ascontiguousarray(array)


def _requested_outputs(
    document: dict[str, Any], outputs: Sequence[str]
) -> tuple[tuple[str, ...] | None, frozenset[str]]:
    parameters = document.get("parameters") or {}
    all_binary = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    requested = document.get("outputs")
    if requested is None:
        return None, frozenset(outputs if all_binary else ())
    if not isinstance(requested, list):
        raise BadRequest('"outputs" must be a list')
    names: list[str] = []
    binary: set[str] = set()
    for item in requested:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in outputs:
            raise InvalidInput(f"unknown output {name!r}; the model has {list(outputs)}")
        names.append(name)
        item_parameters = item.get("parameters") or {}
        if all_binary or (
            isinstance(item_parameters, dict) and item_parameters.get("binary_data") is True
        ):
            binary.add(name)
    return tuple(names), frozenset(binary)


def encode_response(
    model_name: str,
    request: InferRequest,
    names: Sequence[str],
    arrays: Sequence[np.ndarray],
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it."""
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, array in zip(names, arrays, strict=True):
        array = np.ascontiguousarray(array)
        tensor: dict[str, Any] = {
            "name": name,
            "shape": list(array.shape),
            "datatype": oip_datatype(array.dtype),
        }
        if name in request.binary_outputs:
            blob = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = array.reshape(-1)
        tensors.append(tensor)
    document: dict[str, Any] = {"model_name": model_name}
    if request.id is not None:
        document["id"] = request.id
    document["outputs"] = tensors
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
