"""Server-Sent Events: the ``text/event-stream`` format, parsed from a byte stream (WHATWG HTML,
"Interpreting an event stream"): ``field: value`` lines, a blank line ends an event, lines starting
with ``:`` are comments, ``data`` lines join with ``\\n``, and ``id`` persists as the last event id
(sent back as ``Last-Event-ID`` on reconnection)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event: its type, its data, and the last event id at that point."""

    event: str
    data: str
    id: str | None


async def read_events(lines: AsyncIterable[bytes]) -> AsyncIterator[SseEvent]:
    """The events of a stream of lines (each ending with ``\\n``, ``\\r\\n`` or ``\\r``)."""
    last_id: str | None = None
    event = ""
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield SseEvent(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:
            last_id = value
