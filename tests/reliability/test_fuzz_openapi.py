"""Schemathesis against the gateway's own ``/openapi.json``, on a real gateway process.

Every operation of the document is fuzzed (positive and negative cases, derandomized so a run
is reproducible), more than 1,000 requests in all. Each answer must not be a 5xx, a 4xx must carry
the JSON error body of its route family, and every answer must be one the document describes.
"""

from __future__ import annotations

import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Route

from gateway.app import create_app
from gateway.config import Settings
from tests.reliability.conftest import SERVICE, serve_digits
from tests.support import ServerProcess

ADMIN_TOKEN = "reliability-admin-token"
MIN_CASES = 1000

# Examples per operation: (positive, negative). Operations without any input have one possible
# request, which is sent once.
BUDGET: dict[str, tuple[int, int]] = {
    "POST /predict/{service}": (220, 140),
    "POST /v2/models/{service}/infer": (150, 100),
    "GET /v2/models/{service}": (40, 30),
    "GET /v2/models/{service}/ready": (40, 30),
    "POST /v2/models/{service}/versions/{version}/infer": (60, 40),
    "GET /v2/models/{service}/versions/{version}": (30, 20),
    "GET /v2/models/{service}/versions/{version}/ready": (30, 20),
    "GET /v2": (1, 0),
    "GET /system/services/{name}": (40, 30),
    "DELETE /system/services/{name}": (30, 20),
    "GET /system/services/{name}/logs": (50, 30),
    "POST /system/services/{name}/token": (30, 20),
    "POST /system/services": (40, 20),
    "PUT /system/services": (40, 20),
    "GET /v2/health/live": (1, 0),
    "GET /v2/health/ready": (1, 0),
    "GET /system/info": (1, 0),
    "GET /system/services": (1, 0),
    "GET /metrics": (1, 0),
    "POST /job/{service}": (40, 20),
    "GET /jobs": (30, 15),
    "GET /jobs/{job_id}": (40, 0),  # any string is a valid id: nothing negative to make
    "DELETE /jobs/{job_id}": (40, 0),
    "GET /jobs/{job_id}/items/{index}/outputs/{name}": (40, 20),
    "POST /events/s3": (40, 20),
    "POST /run/{service}": (60, 30),
    "GET /health": (1, 0),
    "GET /system/config": (1, 0),
    "GET /system/status": (1, 0),
    "GET /system/logs/{service}": (30, 15),
    "DELETE /system/logs/{service}": (20, 10),
    "GET /system/logs/{service}/{job}": (30, 0),  # any string is a valid id
    "DELETE /system/logs/{service}/{job}": (30, 0),
    **{
        f"{method} /system/services/{{service}}/exposed/{{path}}": (10, 5)
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    },
    "GET /ui": (1, 0),
    "GET /ui/": (1, 0),
    "GET /ui/{file}": (30, 0),  # any string is a valid file name: nothing negative to make
    "GET /ui/session": (1, 0),
    "POST /ui/session": (40, 20),
    "DELETE /ui/session": (1, 0),
}
# A fuzzed FDL document that happens to be valid would start real runtimes (and a `script`
# runtime runs its text): these are fuzzed without the admin token, so they answer 401/403.
UNAUTHENTICATED = {"POST /system/services", "PUT /system/services"}
# These must not hit the service the other operations are fuzzed against.
SPARE_THE_SERVICE = {"DELETE /system/services/{name}", "POST /system/services/{name}/token"}
AUTHS = {
    "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    "none": {},
    "wrong": {"Authorization": "Bearer " + "0" * 64},
    "malformed": {"Authorization": "Basic dXNlcjpwYXNz"},
}
_CONVERTER = re.compile(r"{(\w+):\w+}")  # "{index:int}" -> "{index}", as the document names it
_NAME = r"{\1}"
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve_digits(tmp_path_factory, GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def schema(gateway: ServerProcess) -> BaseSchema:
    return schemathesis.openapi.from_url(gateway.url + "/openapi.json", timeout=30)


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


def test_the_budget_is_over_a_thousand_cases() -> None:
    assert sum(p + n for p, n in BUDGET.values()) >= MIN_CASES


def test_the_document_describes_every_route(schema: BaseSchema) -> None:
    app = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="gateway-openapi-"))))
    served = {
        f"{method} {_CONVERTER.sub(_NAME, route.path)}"
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {result.ok().label for result in schema.get_all_operations()}
    # schemathesis leaves out the operation that serves the document itself
    assert served - documented == {"GET /openapi.json"}
    assert documented - served == set()
    assert documented == set(BUDGET)


def test_openapi_json_is_the_document(gateway: ServerProcess, session: requests.Session) -> None:
    response = session.get(gateway.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize("label", sorted(BUDGET))
def test_operation_never_fails_and_errors_are_json(
    label: str, schema: BaseSchema, gateway: ServerProcess, session: requests.Session
) -> None:
    method, path = label.split(" ", 1)
    operation = schema[path][method]
    positive, negative = BUDGET[label]
    statuses: Counter[int] = Counter()
    _fuzz(operation, GenerationMode.POSITIVE, positive, gateway.url, session, statuses)
    if negative:
        _fuzz(operation, GenerationMode.NEGATIVE, negative, gateway.url, session, statuses)
    print(f"{label}: {dict(sorted(statuses.items()))}")
    assert statuses.total() >= positive + negative, f"{label}: only {statuses.total()} sent"
    # the gateway is still up and the service still answers
    ready = session.get(gateway.url + "/v2/health/ready", timeout=30)
    assert ready.status_code == 200, ready.text


def _fuzz(
    operation: APIOperation,
    mode: GenerationMode,
    examples: int,
    url: str,
    http: requests.Session,
    statuses: Counter[int],
) -> None:
    label = operation.label

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        auth=st.sampled_from(["admin", "admin", "admin", "none", "wrong", "malformed"]),
        aim=st.sampled_from([True, True, True, False]),
    )
    def run(case: Case, auth: str, aim: bool) -> None:
        params = case.path_parameters or {}
        for key in ("service", "name"):  # mostly the real service, else whatever was generated
            if key in params and aim:
                params[key] = SERVICE
        if params.get("name") == SERVICE and label in SPARE_THE_SERVICE:
            params["name"] = "not-" + SERVICE
        if label in UNAUTHENTICATED and auth == "admin":
            auth = "none"
        headers = dict(AUTHS[auth])
        response = case.call(base_url=url, session=http, headers=headers, timeout=30)
        statuses[response.status_code] += 1
        _check_error_body(case, response)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def _check_error_body(case: Case, response: schemathesis.Response) -> None:
    status = response.status_code
    where = f"{case.method} {response.request.url} -> {status}: {response.content[:300]!r}"
    assert status < 500, f"server error: {where}\n{case.as_curl_command()}"
    if status < 400:
        return
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), where
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error"}, where
    error = body["error"]
    if case.path.startswith("/v2/"):
        assert isinstance(error, str) and error, where
    else:
        assert isinstance(error, dict), where
        assert isinstance(error.get("code"), str) and error["code"], where
        assert isinstance(error.get("message"), str) and error["message"], where


# Found by this fuzzer: each made the runtime raise (TypeError, OverflowError), answered 500.
@pytest.mark.parametrize(
    "tensor",
    [
        {"name": [], "shape": [1, 64], "datatype": "FP32", "data": [0] * 64},
        {"name": {}, "shape": [1, 64], "datatype": "FP32", "data": [0] * 64},
        {"name": "input", "shape": [1, 1], "datatype": "UINT8", "data": [300]},
        {"name": "input", "shape": [1, 1], "datatype": "UINT8", "data": [-1]},
        {"name": "input", "shape": [1, 1], "datatype": "INT8", "data": [10**40]},
    ],
    ids=["name-list", "name-object", "uint8-300", "uint8-negative", "int8-huge"],
)
def test_malformed_oip_tensors_are_4xx(
    tensor: dict[str, object], gateway: ServerProcess, session: requests.Session
) -> None:
    response = session.post(
        f"{gateway.url}/v2/models/{SERVICE}/infer",
        json={"inputs": [tensor]},
        headers=AUTHS["admin"],
        timeout=30,
    )
    assert 400 <= response.status_code < 500, response.text
    assert isinstance(response.json()["error"], str)
