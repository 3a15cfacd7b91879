"""Open Inference Protocol tensors over gRPC: ``ModelInferRequest`` <-> numpy.

Inputs come as ``raw_input_contents`` (each input's little-endian bytes, in input order) or as
typed ``contents`` lists; outputs always go back as ``raw_output_contents``, as Triton's and
KServe's servers answer and their clients read. The checks (names, shapes, datatypes) are those of
the HTTP route (`runtimes.onnx.oip`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from runtimes.errors import InvalidInput
from runtimes.oip import MODEL_VERSION
from runtimes.oip import grpc_predict_v2_pb2 as pb
from runtimes.onnx.model import TensorInfo
from runtimes.onnx.oip import InferRequest, fit_input
from runtimes.onnx.tensors import OIP_TO_NUMPY, oip_datatype

#: Which typed list of ``InferTensorContents`` carries each datatype (FP16 travels raw only).
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}


def parse_infer_request(
    request: pb.ModelInferRequest, inputs: Sequence[TensorInfo], outputs: Sequence[str]
) -> InferRequest:
    """Decode ``request`` against the model's ``inputs``; `InvalidInput` when they do not fit."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"{len(raw)} raw_input_contents for {len(request.inputs)} inputs: send one per input"
        )
    expected = {info.name: info for info in inputs}
    feeds: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        info = expected.get(tensor.name)
        if info is None:
            raise InvalidInput(f"unknown input {tensor.name!r}; the model takes {sorted(expected)}")
        array = _decode(tensor, raw[index] if raw else None)
        feeds[tensor.name] = fit_input(array, info)
    missing = set(expected) - set(feeds)
    if missing:
        raise InvalidInput(f"missing input(s) {sorted(missing)}")
    wanted: tuple[str, ...] | None = None
    if request.outputs:
        unknown = [o.name for o in request.outputs if o.name not in outputs]
        if unknown:
            raise InvalidInput(f"unknown output(s) {unknown}; the model has {list(outputs)}")
        wanted = tuple(o.name for o in request.outputs)
    return InferRequest(request.id or None, feeds, wanted, frozenset())


def _decode(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None) -> np.ndarray:
    dtype = OIP_TO_NUMPY.get(tensor.datatype)
    if dtype is None:
        raise InvalidInput(f"input {tensor.name!r}: unsupported datatype {tensor.datatype!r}")
    shape = list(tensor.shape)
    try:
        if raw is not None:
            if len(raw) % dtype.itemsize:
                raise InvalidInput(
                    f"input {tensor.name!r}: {len(raw)} bytes is not a whole number of items"
                )
            array = np.frombuffer(raw, dtype.newbyteorder("<"))
        else:
            field = _CONTENTS.get(tensor.datatype)
            if field is None:
                raise InvalidInput(f"input {tensor.name!r}: send {tensor.datatype} data raw")
            array = np.asarray(getattr(tensor.contents, field), dtype=dtype)
        return array.reshape(shape)
    except ValueError as exc:
        raise InvalidInput(f"input {tensor.name!r} does not match shape {shape}: {exc}") from None


def encode_infer_response(
    model_name: str, request: InferRequest, names: Sequence[str], arrays: Sequence[np.ndarray]
) -> pb.ModelInferResponse:
    """The answer: each output's name, datatype and shape, its bytes in ``raw_output_contents``."""
    response = pb.ModelInferResponse(
        model_name=model_name, model_version=MODEL_VERSION, id=request.id or ""
    )
    for name, array in zip(names, arrays, strict=True):
        datatype = oip_datatype(array.dtype)
        if datatype == "BYTES":
            raise InvalidInput(f"output {name!r} holds BYTES, which this server cannot send")
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        response.raw_output_contents.append(little.tobytes())
    return response
