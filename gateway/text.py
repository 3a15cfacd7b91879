"""check_text: a parsed request document holds only text that can be encoded again.

JSON's ``\\ud83d`` escape and YAML's give Python a lone surrogate, a ``str`` that no UTF-8 writer
(orjson, SQLite, pydantic's JSON) accepts: caught here, where the document is parsed, as a 400,
rather than as a 500 wherever it is written next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import BadRequest


def _bad(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _find(data: Any, where: str) -> str | None:
    if isinstance(data, str):
        return where if _bad(data) else None
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and _bad(key):
                return f"{where} (a key)"
            found = _find(value, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found = _find(value, f"{where}[{index}]")
            if found is not None:
                return found
    return None


def check_text(data: Any, *, source: str) -> None:
    """`BadRequest` when a string in `data` (keys included) is not valid Unicode."""
    where = _find(data, "")
    if where is not None:
        raise BadRequest(
            f"{source}: {where or 'the document'} is not valid Unicode text "
            "(a lone surrogate such as \\ud83d?)"
        )
