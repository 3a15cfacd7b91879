"""Kubernetes resource quantities (``cpu: 500m``, ``memory: 1Gi``) in the API server's own grammar.

The grammar of ``k8s.io/apimachinery/pkg/api/resource.Quantity``::

    quantity  ::= [+|-] number [suffix]
    number    ::= digits | digits "." [digits] | "." digits
    suffix    ::= binarySI | decimalSI | ("e" | "E") [+|-] digits
    binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei                   (powers of 1024)
    decimalSI ::= n | u | m | k | M | G | T | P | E           (powers of 1000; no "K")

So ``512K`` is not a quantity (the API server answers "unable to parse quantity's suffix"), while
``512k``, ``512Ki``, ``0.5``, ``500m`` and ``1e3`` are. `parse_quantity` is the one parser; the
service definition checks its cpu and memory with `resource_quantity`.
"""

from __future__ import annotations

import re
from decimal import Decimal

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:(?P<binary>[KMGTPE]i)|(?P<decimal>[numkMGTPE])|[eE](?P<exponent>[+-]?\d+))?"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity (``"500m"`` -> 0.5, ``"1Ki"`` -> 1024); ValueError if invalid."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a Kubernetes quantity (a number with an optional suffix: "
            "Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or an exponent e3; note 'k', not 'K')"
        )
    number = Decimal(match["number"])
    if match["binary"]:
        return number * Decimal(1024) ** _BINARY[match["binary"]]
    if match["decimal"]:
        return number.scaleb(_DECIMAL[match["decimal"]])
    if match["exponent"]:
        return number.scaleb(int(match["exponent"]))
    return number


def resource_quantity(text: str) -> str:
    """`text` unchanged if it is a positive quantity (a cpu or memory request), else ValueError."""
    if parse_quantity(text) <= 0:
        raise ValueError(f"{text!r} must be greater than zero")
    return text
