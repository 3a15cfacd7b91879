"""WebDAV storage in both FDL forms: OSCAR's ``storage_providers: webdav`` (dCache) and ours."""

from __future__ import annotations

from pathlib import Path

import pytest
from yaml import safe_load

from gateway.errors import InvalidDefinition
from gateway.services import StorageSpec, parse_document, parse_text
from gateway.storage import build_stores
from gateway.storage.webdav import WebDavStore

OSCAR_FDL = """
functions:
  oscar:
  - my-cluster:
      name: plant-classifier
      image: ghcr.io/acme/plants:1
      script: |
        #!/bin/sh
        cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"
      input: [{storage_provider: webdav.dcache, path: plants/in}]
      output: [{storage_provider: webdav.dcache, path: plants/out}]
storage_providers:
  webdav:
    dcache: {hostname: dcache.example.org, login: scientist, password: dcache-secret}
    nextcloud: {hostname: "cloud.example.org/remote.php/dav/files/me", login: me, password: x}
"""


def test_oscar_webdav_providers_become_webdav_stores(tmp_path: Path) -> None:
    document = parse_document(safe_load(OSCAR_FDL), source="oscar.yaml")
    (service,) = document.services
    assert service.input[0].storage == service.output[0].storage == "webdav.dcache"
    dcache = document.storage["webdav.dcache"]
    assert (dcache.type, dcache.login) == ("webdav", "scientist")
    assert dcache.webdav_url() == "https://dcache.example.org/"
    assert dcache.events_url == "https://dcache.example.org:3880"  # dCache's frontend
    assert "dcache-secret" not in repr(dcache)  # the password is a secret, never printed
    nextcloud = document.storage["webdav.nextcloud"]
    assert nextcloud.webdav_url() == "https://cloud.example.org/remote.php/dav/files/me/"
    assert nextcloud.events_url is None  # storage events are dCache's

    stores = build_stores(document.storage, tmp_path)
    assert isinstance(stores["webdav.dcache"], WebDavStore)
    assert stores["webdav.dcache"].events_url == "https://dcache.example.org:3880"
    assert stores["webdav.nextcloud"].root_path == "/remote.php/dav/files/me"  # type: ignore[attr-defined]


def test_our_form_with_url_verify_and_events_url() -> None:
    text = """
services:
  - {name: scans, runtime: script, script: "true", input: [{storage: dcache, path: lab/in}]}
storage:
  dcache:
    type: webdav
    url: https://dcache.example.org:2880/data/
    login: scientist
    password: s3cret
    verify: false
    events_url: https://dcache.example.org:3880
"""
    spec = parse_document(safe_load(text), source="fdl").storage["dcache"]
    assert spec.webdav_url() == "https://dcache.example.org:2880/data/"
    assert spec.verify is False and spec.events_url == "https://dcache.example.org:3880"
    assert spec.password is not None and spec.password.get_secret_value() == "s3cret"


def test_a_webdav_storage_needs_a_url_or_hostname() -> None:
    text = "services: []\nstorage: {dav: {type: webdav, login: me, password: x}}\n"
    with pytest.raises(InvalidDefinition, match="needs 'url' or 'hostname'"):
        parse_text(text, source="fdl")
    with pytest.raises(ValueError):
        StorageSpec(type="webdav")
