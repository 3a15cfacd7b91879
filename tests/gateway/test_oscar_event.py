"""OSCAR's event bodies read as its supervisor reads them (`gateway.oscar_event`)."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.errors import BadRequest, InvalidInput
from gateway.oscar_event import InlineEvent, StoredEvent, parse_event

PAYLOAD = bytes(range(256)) * 3  # base64 of it holds '+' and '/'


def test_base64_wrapped_and_sent_as_a_form_body() -> None:
    wrapped = base64.encodebytes(PAYLOAD)  # 76-column lines, as `base64 file` prints them
    assert b"+" in wrapped and b"\n" in wrapped
    event = parse_event(wrapped, "application/x-www-form-urlencoded")
    assert isinstance(event, InlineEvent) and event.data == PAYLOAD
    assert event.name.startswith("event-file-") and not event.is_json


def test_unpadded_and_urlsafe_base64() -> None:
    text = base64.urlsafe_b64encode(PAYLOAD).rstrip(b"=")
    event = parse_event(text, "application/json")  # oscar-python sends base64 as "JSON"
    assert isinstance(event, InlineEvent) and event.data == PAYLOAD


def test_json_is_the_input_as_it_is() -> None:
    body = b'{"text": "hi", "n": [1, 2]}'
    event = parse_event(body, None)
    assert isinstance(event, InlineEvent) and event.data == body and event.is_json


def test_raw_bytes_by_content_type() -> None:
    event = parse_event(b"\xff\xd8\xff raw", "image/jpeg")
    assert isinstance(event, InlineEvent) and event.data == b"\xff\xd8\xff raw"


@pytest.mark.parametrize("source", ["minio:s3", "aws:s3"])
def test_storage_event(source: str) -> None:
    record = {
        "eventSource": source,
        "s3": {"bucket": {"name": "bkt"}, "object": {"key": "in/a+b%21.jpg", "eTag": '"e"'}},
    }
    event = parse_event(json.dumps({"Records": [record]}).encode(), "application/json")
    assert event == StoredEvent("bkt", "in/a b!.jpg", "e")
    assert event.path == "bkt/in/a b!.jpg"


def test_delegated_event_is_unwrapped() -> None:
    inner = {"Records": [{"eventSource": "minio:s3",
                          "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}  # fmt: skip
    body = json.dumps({"storage_provider": "minio.other", "event": json.dumps(inner)})
    event = parse_event(body.encode(), None)
    assert isinstance(event, StoredEvent) and event.provider == "minio.other"
    assert event.path == "b/k"


def test_unknown_storage_source_is_refused() -> None:
    body = json.dumps({"Records": [{"eventSource": "OneTrigger"}]}).encode()
    with pytest.raises(InvalidInput, match="OneTrigger"):
        parse_event(body, None)


@pytest.mark.parametrize("body", [b"%%%", b"not json {", b'{"Records": [{"eventSource": '
                                  b'"minio:s3", "s3": {}}]}'])  # fmt: skip
def test_bodies_that_are_no_event_are_400(body: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_event(body, "text/plain")
