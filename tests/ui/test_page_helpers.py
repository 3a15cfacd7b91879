"""The page's own helpers, run in the browser: the YAML it writes, where it puts an error, and the
latency quantiles it computes from /metrics."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from playwright.async_api import Page

DEFINITION: dict[str, Any] = {
    "name": "tricky",
    "runtime": "script",
    "script": '#!/bin/sh\necho "hi: there" # not a comment in YAML\ncat $INPUT_FILE_PATH\n',
    "cpu": "2",
    "memory": "1Gi",
    "environment": {
        "A": "yes",
        "B": "",
        "C": "a: b",
        "D": ".inf",
        "E": "#x",
        "F": "null",
        "G": "0.5",
        "H": "multi\n\nline  \n",
        "I": "ünïcode \u2013 ok",
    },
    "input": [{"storage": "default", "path": "in/x", "suffix": ["jpg", "png"]}],
    "output": [{"path": "out"}, {"storage": "s3", "path": "bucket/out"}],
    "variants": {},
    "preprocess": {"size": [224, 224], "mean": [0.5, 0.25, 0.125]},
    "min_scale": 0,
    "enable_gpu": False,
    "timeout": 1.5,
    "nested": [[1, 2], {"a": [{"b": None}]}],
}


async def _helpers(page: Page, call: str, *args: Any) -> Any:
    await page.goto("/ui/")
    return await page.evaluate(
        f"async (args) => {{ const y = await import('./yaml.js'); "
        f"const m = await import('./metrics.js'); return {call}; }}",
        list(args),
    )


async def test_the_yaml_written_reads_back_as_the_same_definition(page: Page) -> None:
    text = await _helpers(page, "y.toYaml(args[0])", DEFINITION)
    assert yaml.safe_load(text) == DEFINITION
    assert "script: |\n  #!/bin/sh\n" in text  # a script stays readable: a literal block


@pytest.mark.parametrize(
    ("path", "line"),
    [
        ("name", "name: tricky"),
        ("preprocess.size", "  size: [224, 224]"),
        ("input.0.path", "  path: in/x"),
        ("output.1.storage", "- storage: s3"),
        ("output.1", "- storage: s3"),
        ("environment.C", '  C: "a: b"'),
        ("preprocess.std", "preprocess:"),
    ],
)
async def test_a_field_is_found_on_its_line(page: Page, path: str, line: str) -> None:
    text, index = await _helpers(
        page, "[y.toYaml(args[0]), y.lineOf(y.toYaml(args[0]), args[1])]", DEFINITION, path
    )
    assert text.split("\n")[index] == line


async def test_the_gateway_errors_are_placed_on_their_fields(page: Page) -> None:
    message = (
        "request body: service 'tricky': max_scale: Input should be greater than or equal to 1; "
        "input.0.path: String should have at least 1 character"
    )
    text = "name: tricky\nmax_scale: 0\ninput:\n- storage: default\n  path: ''\n"
    explained = await _helpers(page, "y.explain(args[0], args[1])", message, text)
    assert explained == {
        "fields": [
            {
                "field": "max_scale",
                "message": "Input should be greater than or equal to 1",
                "line": 1,
            },
            {
                "field": "input.0.path",
                "message": "String should have at least 1 character",
                "line": 4,
            },
        ],
        "general": [],
    }


async def test_a_yaml_syntax_error_is_placed_on_its_line(page: Page) -> None:
    message = (
        "request body: neither valid YAML nor JSON: while parsing a block mapping\n"
        '  in "<unicode string>", line 3, column 1'
    )
    explained = await _helpers(page, "y.explain(args[0], 'x')", message)
    assert [f["line"] for f in explained["fields"]] == [2]


async def test_a_message_without_a_field_is_shown_as_is(page: Page) -> None:
    message = "request body: unknown top-level key(s): servics"
    explained = await _helpers(page, "y.explain(args[0], 'servics: []')", message)
    assert explained == {"fields": [], "general": [message]}


@pytest.mark.parametrize(("q", "expected"), [(0.5, 0.01), (0.75, 0.0175), (1.0, 0.025)])
async def test_quantiles_are_interpolated_as_prometheus_does(
    page: Page, q: float, expected: float
) -> None:
    buckets = {"0.005": 0, "0.01": 5, "0.025": 10, "+Inf": 10}
    assert await _helpers(page, "m.quantile(args[0], args[1])", q, buckets) == pytest.approx(
        expected
    )


async def test_the_metrics_text_is_read_per_service(page: Page) -> None:
    text = (
        "# HELP gateway_requests_total ...\n"
        'gateway_requests_total{backend="local",code="200",service="digits"} 7.0\n'
        'gateway_requests_total{backend="local",code="503",service="digits"} 2.0\n'
        'gateway_request_duration_seconds_bucket{backend="local",le="0.01",service="digits"} 8.0\n'
        'gateway_request_duration_seconds_bucket{backend="local",le="+Inf",service="digits"} 9.0\n'
        'gateway_request_duration_seconds_count{backend="local",service="digits"} 9.0\n'
    )
    digits = await _helpers(page, "m.byService(m.parse(args[0])).digits", text)
    assert digits == {
        "requests": 9,
        "errors": 2,
        "codes": {"200": 7, "503": 2},
        "buckets": {"0.01": 8, "+Inf": 9},
        "count": 9,
    }
