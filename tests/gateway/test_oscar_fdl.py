"""OSCAR's FDL loads whole: every field is mapped onto the ServiceSpec or named in a warning, and
what OSCAR's own tools load (tabs after values, several clusters, services without a script)
loads here too. The files are the tests' own, under tests/oscar_fdl/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.errors import BadRequest
from gateway.services import FdlDocument, ServiceSpec, load_file, parse_text
from gateway.spec_parts import MASK, REVEAL
from gateway.yaml_text import load_yaml, untab

FDL = Path(__file__).resolve().parents[1] / "oscar_fdl"
ALL_FIELDS = FDL / "all_fields.yaml"
SECRET_VALUES = (
    "plants-secret-value",
    "minio-secret-value",
    "aws-secret-value",
    "webdav-secret-value",
    "onedata-secret-value",
    "rucio-secret-value",
    "cluster-secret-value",
)
# OSCAR field -> the ServiceSpec field it becomes (where the name differs)
RENAMED = {
    "ephemeral_storage_request": "ephemeral_storage",
    "labels": "kube_labels",
    "synchronous": "min_scale",
}


@pytest.fixture(scope="module")
def document() -> FdlDocument:
    return load_file(ALL_FIELDS)


def _services(document: FdlDocument) -> dict[str, ServiceSpec]:
    return {spec.name: spec for spec in document.services}


def _raw_services() -> list[tuple[str, dict[str, Any]]]:
    raw = yaml.safe_load(untab(ALL_FIELDS.read_text()))
    return [next(iter(entry.items())) for entry in raw["functions"]["oscar"]]


def test_no_field_of_the_file_is_dropped_silently(document: FdlDocument) -> None:
    services = _services(document)
    for cluster, raw in _raw_services():
        if cluster != "cluster-a":
            continue
        spec = services[raw["name"]]
        kept = spec.model_dump(exclude_defaults=True)
        for field in raw:
            named = [w for w in document.warnings if f"{raw['name']!r}" in w and field in w]
            target = RENAMED.get(field, field)
            unset = target in ServiceSpec.model_fields and not raw[field]  # e.g. enable_gpu: false
            mapped = target in kept or unset or field == "environment"
            assert mapped or named, f"{raw['name']}.{field} was dropped without a word"


def test_oscar_fields_are_mapped_onto_the_spec(document: FdlDocument) -> None:
    plants = _services(document)["plants"]
    assert plants.image == "ghcr.io/example/plants:1.0"  # the tab after the value is gone
    assert plants.environment == {"THRESHOLD": "0.4", "MODE": "fast"}  # Variables + variables
    assert plants.secrets["API_KEY"].get_secret_value() == "plants-secret-value"
    assert plants.kube_labels == {"team": "plants", "tier": "batch"} and plants.labels is None
    assert plants.annotations == {"example.org/owner": "plants-team"}
    assert (plants.log_level, plants.min_scale, plants.max_scale) == ("critical", 1, 3)
    assert plants.image_pull_secrets == ("regcred",) and plants.ephemeral_storage == "2Gi"
    assert plants.input[0].suffix == (".jpg",)
    assert (plants.output[0].storage, plants.output[0].prefix) == ("archive", ("result-",))
    assert plants.replicas[0].cluster_id == "cluster-b" and plants.replicas[0].priority == 1
    assert plants.federation is not None and plants.federation.topology == "star"
    assert plants.federation.members[0].url == "https://other.example.org"
    assert plants.clusters["cluster-a"].endpoint == "https://a.example.org"
    assert set(document.storage) == {"default", "archive", "webdav.dcache"}
    assert document.storage["archive"].region == "eu-west-1"


def test_unsupported_fields_are_named_in_warnings(document: FdlDocument) -> None:
    text = "\n".join(document.warnings)
    for field in (
        "enable_sgx",
        "image_prefetch",
        "total_cpu",
        "total_memory",
        "alpine",
        "file_stage_in",
        "vo",
        "allowed_users",
        "isolation_level",
        "interlink_node_name",
        "mount",
        "volume",
        "expose.nodePort",
    ):
        assert f"field {field!r} is not supported here and was ignored" in text, field
    assert "service 'plants': field 'token' is set by the server" in text
    for kind in ("onedata", "rucio"):
        assert f"storage_providers.{kind}" in text
    assert "storage_providers.webdav" not in text  # mapped: the store webdav.dcache
    assert "webdav.dcache" not in text


def test_secrets_never_appear_in_warnings_or_dumps(document: FdlDocument) -> None:
    shown = "\n".join(document.warnings) + "".join(
        spec.model_dump_json() + json.dumps(spec.model_dump(mode="json"))
        for spec in document.services
    )
    assert MASK in shown
    for value in SECRET_VALUES:
        assert value not in shown


def test_secrets_survive_a_dump_made_to_be_stored(document: FdlDocument) -> None:
    plants = _services(document)["plants"]
    again = ServiceSpec.model_validate_json(plants.model_dump_json(context=REVEAL))
    assert again.secrets["API_KEY"].get_secret_value() == "plants-secret-value"
    assert again.clusters["cluster-a"].auth_password is not None
    assert again.clusters["cluster-a"].auth_password.get_secret_value() == "cluster-secret-value"


def test_a_service_for_two_clusters_takes_the_first_and_names_the_other(
    document: FdlDocument,
) -> None:
    assert _services(document)["plants"].image == "ghcr.io/example/plants:1.0"
    (line,) = [w for w in document.warnings if "several clusters" in w]
    assert "took cluster 'cluster-a'" in line and "'cluster-b'" in line


def test_cluster_id_picks_that_clusters_entry() -> None:
    plants = _services(load_file(ALL_FIELDS, cluster_id="cluster-b"))["plants"]
    assert plants.image == "ghcr.io/example/plants:1.0-cluster-b"


def test_services_without_a_script_load_as_not_run_here(document: FdlDocument) -> None:
    services = _services(document)
    assert services["plants-llm"].cannot_run == "a KServe service without a script"
    assert services["rucio-fetch"].cannot_run == "no script"
    assert any("'plants-llm': not run here" in w for w in document.warnings)


def test_expose_makes_a_deployment_service_on_its_port(document: FdlDocument) -> None:
    api = _services(document)["plants-api"]
    assert api.backend == "deployment" and api.exposed_port == 5000
    assert api.expose is not None
    assert (api.expose.min_scale, api.expose.max_scale, api.expose.cpu_threshold) == (2, 5, 70)
    assert api.expose.health_path == "/health" and api.expose.rewrite_target


def test_onnx_service_in_an_oscar_file_keeps_its_preprocessing() -> None:
    (spec,) = load_file(FDL / "imagenet.yaml").services
    assert spec.runtime == "onnx" and spec.preprocess.size == (224, 224)
    assert spec.preprocess.mean == (0.498, 0.498, 0.498)
    assert spec.batching.max_batch_size == 8
    assert spec.model is not None and spec.model.name == "efficientnet-lite0.onnx"
    assert spec.labels is not None and spec.labels.is_absolute()


def test_script_path_is_read_relative_to_the_file(tmp_path: Path) -> None:
    (greeter,) = load_file(FDL / "greeter.yaml").services
    assert greeter.script == (FDL / "greeter.sh").read_text()


def test_one_service_object_with_embedded_providers_as_oscar_cli_sends_it() -> None:
    body = {
        "name": "plants",
        "cluster_id": "cluster-a",
        "image": "ghcr.io/example/plants:1.0",
        "script": "#!/bin/sh\necho hi\n",
        "environment": {"Variables": {"A": "1"}, "secrets": {"K": "object-secret"}},
        "labels": {"team": "plants"},
        "storage_providers": {"minio": {"default": {"endpoint": "https://m", "region": "r"}}},
        "clusters": {"cluster-a": {"endpoint": "https://a", "auth_user": "oscar"}},
    }
    document = parse_text(json.dumps(body), source="api")
    (spec,) = document.services
    assert spec.environment == {"A": "1"} and spec.kube_labels == {"team": "plants"}
    assert spec.secrets["K"].get_secret_value() == "object-secret"
    assert spec.clusters["cluster-a"].endpoint == "https://a"
    assert document.storage["default"].region == "r"
    assert not document.warnings


def test_json_with_an_escaped_emoji_is_one_character() -> None:
    body = json.dumps({"name": "smile", "image": "i", "script": "#!/bin/sh\necho 😀\n"})
    assert "\\ud83d\\ude00" in body  # how json.dumps (ensure_ascii) sends it
    (spec,) = parse_text(body, source="api").services
    assert spec.script == "#!/bin/sh\necho 😀\n"


@pytest.mark.parametrize("escape", ["\\ud83d", "\\ude00", "\\ude00\\ud83d"])
def test_lone_surrogates_are_a_bad_request(escape: str) -> None:
    body = '{"name": "smile", "image": "i", "script": "echo ' + escape + '"}'
    with pytest.raises(BadRequest, match="lone surrogate"):
        parse_text(body, source="api")


def test_tabs_after_values_load_and_tabs_in_strings_and_blocks_stay() -> None:
    text = (
        "a: b\t\n"
        "c: 'x\ty'\t# comment\t\n"
        'd: "p\tq"\n'
        "e: [1,\t2]\n"
        "s: |\n  keep\tthis\n  and this\t\n"
        "f: g\t\n"
    )
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    assert load_yaml(text) == {
        "a": "b",
        "c": "x\ty",
        "d": "p\tq",
        "e": [1, 2],
        "s": "keep\tthis\nand this\t\n",
        "f": "g",
    }


def test_a_tab_in_indentation_stays_an_error() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("a:\n\tb: c\n")


def test_variables_read_as_gos_yaml_reads_them() -> None:
    body = {
        "name": "env",
        "image": "i",
        "script": "#!/bin/sh\n",
        "environment": {"Variables": {"SEND": False, "N": 3, "KEY": ["placeholder"]}},
    }
    document = parse_text(json.dumps(body), source="api")
    (spec,) = document.services
    assert spec.environment == {"SEND": "false", "N": "3", "KEY": "['placeholder']"}
    assert document.warnings == (
        "service 'env': environment.Variables.KEY is not a single value: taken as text",
    )


def test_a_service_object_with_our_own_fields_is_read_as_ours() -> None:
    body = {
        "name": "ours",
        "runtime": "script",
        "script": "#!/bin/sh\n",
        "environment": {"A": "1"},
        "annotations": {"example.org/a": "b"},
        "kube_labels": {"team": "x"},
    }
    document = parse_text(json.dumps(body), source="api")
    (spec,) = document.services
    assert spec.environment == {"A": "1"} and spec.kube_labels == {"team": "x"}
    assert spec.annotations == {"example.org/a": "b"} and not document.warnings


def test_a_yaml_error_says_where_without_quoting_the_line() -> None:
    body = 'name: x\nscript: "#!/bin/sh"\nenvironment: {secrets: {KEY: "value-never-shown}\n'
    with pytest.raises(BadRequest) as caught:
        parse_text(body, source="api")
    assert "(line 4, column 1)" in caught.value.message  # where the string runs out
    assert "value-never-shown" not in caught.value.message


async def test_a_file_service_whose_backend_is_not_enabled_is_listed_as_failed(
    tmp_path: Path,
) -> None:
    import httpx

    from gateway.app import create_app
    from gateway.config import Settings

    specs = load_file(ALL_FIELDS).services  # plants-api is exposed: the deployment backend
    app = create_app(Settings(data_dir=tmp_path, backends=("local",)), [specs[1]])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            answer = (await client.get("/system/services/plants-api")).json()
    assert answer["state"] == "failed" and answer["backend"] == "none"
    assert "backend 'deployment' is not enabled here (enabled: local)" in answer["detail"]
