"""YAML text as OSCAR's tools read it: tabs after a value, which Go's YAML parser accepts and
PyYAML refuses in some places, are read as spaces.

Only a text that fails to load is retried, with each tab outside indentation, quoted strings and
block scalars turned into a space; a text that still fails reports the original error.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_BLOCK_START = re.compile(r"(^|[:\-?]\s+|^---\s+)[|>][-+]?\d?[-+]?\s*(#.*)?$")
_OPENS_SCALAR = ":-[{,?"


def load_yaml(text: str | bytes) -> Any:
    """``yaml.safe_load`` that also takes tabs after values (raises `yaml.YAMLError`)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as first:
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise first from None
        if "\t" not in text:
            raise
        try:
            return yaml.safe_load(untab(text))
        except yaml.YAMLError:
            raise first from None


def describe_error(exc: yaml.YAMLError) -> str:
    """The problem and where it is, without the quoted source line (which may hold a secret)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        return f"{exc.problem}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def untab(text: str) -> str:
    """`text` with tabs after the indentation, outside quotes and block scalars, as spaces."""
    out: list[str] = []
    block_parent: int | None = None  # indentation of the line that opened a block scalar
    quote = ""  # the quote character of a string that runs on from an earlier line
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        indent = len(body) - len(body.lstrip(" \t"))  # a tab in indentation stays an error
        if block_parent is not None:
            if not body.strip() or indent > block_parent:
                out.append(line)
                continue
            block_parent = None
        converted, quote = _untab_line(body, indent, quote)
        if not quote and _BLOCK_START.search(converted.strip()):
            block_parent = indent
        out.append(converted + line[len(body) :])
    return "".join(out)


def _untab_line(body: str, indent: int, quote: str) -> tuple[str, str]:
    chars = list(body)
    previous = "" if not quote else "x"
    i = indent
    while i < len(chars):
        char = chars[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 2
                continue
            if char == quote:
                if quote == "'" and i + 1 < len(chars) and chars[i + 1] == "'":
                    i += 2
                    continue
                quote = ""
            i += 1
            previous = "x"
            continue
        if char == "\t":
            chars[i] = " "
        elif char in "'\"" and (previous == "" or previous in _OPENS_SCALAR):
            quote = char
        elif char == "#" and (i == indent or chars[i - 1] in " \t"):
            chars[i:] = [" " if c == "\t" else c for c in chars[i:]]
            break
        if not chars[i].isspace():
            previous = chars[i]
        i += 1
    return "".join(chars), quote
