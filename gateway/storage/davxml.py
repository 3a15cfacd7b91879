"""The WebDAV wire format the store needs: the PROPFIND request body and its multistatus answer.

A `DavEntry` is one ``<D:response>`` of a 207 Multi-Status: its path (percent-decoded, absolute,
as the server named it), whether it is a collection, and the properties the store lists with:
``getetag``, ``getcontentlength``, ``getlastmodified`` (RFC 4918 §14-15).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:"><D:prop>'
    b"<D:resourcetype/><D:getetag/><D:getcontentlength/><D:getlastmodified/>"
    b"</D:prop></D:propfind>"
)
_NS = "{DAV:}"


@dataclass(frozen=True, slots=True)
class DavEntry:
    """One resource of a PROPFIND answer."""

    path: str  # decoded absolute path, without a trailing "/"
    collection: bool
    etag: str  # the ETag without quotes, else "<last-modified>|<size>"
    size: int


class DavFormatError(ValueError):
    """The server's answer is not a WebDAV multistatus document."""


def parse_multistatus(body: bytes) -> list[DavEntry]:
    """The entries of a 207 answer (properties with a non-200 propstat are treated as absent)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise DavFormatError(f"not an XML multistatus answer: {exc}") from None
    if root.tag != f"{_NS}multistatus":
        raise DavFormatError(f"expected DAV:multistatus, got {root.tag}")
    entries = []
    for response in root.iter(f"{_NS}response"):
        href = response.findtext(f"{_NS}href")
        if not href:
            continue
        props: dict[str, ET.Element] = {}
        for propstat in response.iter(f"{_NS}propstat"):
            status = propstat.findtext(f"{_NS}status") or ""
            if " 200 " not in f"{status} ":
                continue
            for prop in propstat.iter(f"{_NS}prop"):
                for child in prop:
                    props[child.tag.removeprefix(_NS)] = child
        entries.append(_entry(href, props))
    return entries


def _entry(href: str, props: dict[str, ET.Element]) -> DavEntry:
    path = unquote(urlsplit(href).path)
    kind = props.get("resourcetype")
    collection = kind is not None and kind.find(f"{_NS}collection") is not None
    collection = collection or path.endswith("/")
    size_text = _text(props, "getcontentlength")
    size = int(size_text) if size_text.isdigit() else 0
    etag = _text(props, "getetag").removeprefix("W/").strip('"')
    if not etag:  # no ETag: last-modified and size still change with each upload
        etag = f"{_text(props, 'getlastmodified')}|{size}"
    return DavEntry(path.rstrip("/") or "/", collection, etag, size)


def _text(props: dict[str, ET.Element], name: str) -> str:
    element = props.get(name)
    return (element.text or "").strip() if element is not None else ""
