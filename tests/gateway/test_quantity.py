"""Service definitions take cpu and memory in Kubernetes' own quantity grammar: what the API
server refuses (``512K``: "unable to parse quantity's suffix") is refused when it is loaded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from gateway.quantity import parse_quantity
from gateway.services import ServiceSpec


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", Decimal(1)),
        ("500m", Decimal("0.5")),
        ("0.5", Decimal("0.5")),
        (".5", Decimal("0.5")),
        ("2.", Decimal(2)),
        ("512k", Decimal(512_000)),
        ("512Ki", Decimal(512 * 1024)),
        ("1Gi", Decimal(1024**3)),
        ("1G", Decimal(10**9)),
        ("2Ei", Decimal(2 * 1024**6)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("100n", Decimal("1e-7")),
        ("+1Mi", Decimal(1024**2)),
    ],
)
def test_quantities_the_api_server_accepts_parse_to_their_value(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["512K", "1gi", "1GB", "1 Gi", "Gi", "", "1.5.0", "1e", "1e1.5", "0x10", "1Ki1", "1mi"]
)
def test_what_the_api_server_refuses_is_not_a_quantity(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_a_definition_with_memory_512K_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match=r"memory[\s\S]*'512K' is not a Kubernetes quantity"):
        ServiceSpec(name="m", model="m.onnx", memory="512K")


@pytest.mark.parametrize("field", ["cpu", "memory"])
def test_zero_or_negative_requests_are_refused(field: str) -> None:
    for text in ("0", "-1", "-500m"):
        with pytest.raises(ValidationError, match="greater than zero"):
            ServiceSpec.model_validate({"name": "m", "model": "m.onnx", field: text})


def test_cpu_cores_reads_every_form() -> None:
    cores = [
        ServiceSpec(name="m", model="m.onnx", cpu=cpu).cpu_cores() for cpu in ("250m", "2", "1e0")
    ]
    assert cores == [0.25, 2.0, 1.0]
