"""gateway/openapi.yaml is a valid OpenAPI document and describes every route the app serves."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from openapi_spec_validator import validate
from starlette.routing import Mount, Route

from gateway.app import create_app
from gateway.config import Settings

DOCUMENT: dict[str, Any] = yaml.safe_load(
    resources.files("gateway").joinpath("openapi.yaml").read_text(encoding="utf-8")
)


def test_the_document_is_valid_openapi() -> None:
    validate(DOCUMENT)  # raises with the first violation


def test_every_served_route_is_in_the_document(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), backends={})
    paths = DOCUMENT["paths"]
    missing = []
    for route in app.routes:
        if isinstance(route, Route):
            path = re.sub(r"{(\w+):[^}]*}", r"{\1}", route.path)  # {p:path} -> {p}
            for method in sorted((route.methods or set()) - {"HEAD"}):
                if method.lower() not in paths.get(path, {}):
                    missing.append(f"{method} {path}")
        elif isinstance(route, Mount):  # a mounted app: some documented path under its prefix
            if not any(p.startswith(route.path.rstrip("/") + "/") for p in paths):
                missing.append(f"{route.path}/... (mounted)")
        else:
            missing.append(f"{route!r} (not a Route or Mount)")
    assert not missing, "served but not in gateway/openapi.yaml: " + ", ".join(missing)
