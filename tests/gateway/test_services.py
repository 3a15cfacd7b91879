"""Loading service definitions: our FDL, OSCAR's FDL, and errors that say where the problem is."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import InvalidDefinition
from gateway.services import load_file, parse_document
from tests.support import DIGITS_YAML, IMAGENET_YAML


def test_demo_service_files_load_with_paths_resolved() -> None:
    (imagenet,) = load_file(IMAGENET_YAML).services
    assert imagenet.name == "imagenet"
    assert imagenet.model == IMAGENET_YAML.parent / "models" / "efficientnet-lite0.onnx"
    assert imagenet.preprocess.size == (224, 224)
    assert imagenet.batching.max_batch_size == 16
    (digits,) = load_file(DIGITS_YAML).services
    assert digits.preprocess.color == "grayscale" and digits.preprocess.layout == "flat"
    assert digits.cpu_cores() == 1.0


def test_error_names_file_service_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "services:\n  - name: imagenet\n    model: m.onnx\n    preprocess: {size: [224]}\n"
    )
    with pytest.raises(InvalidDefinition) as caught:
        load_file(path)
    message = caught.value.message
    assert str(path) in message and "'imagenet'" in message and "preprocess.size" in message


@pytest.mark.parametrize(
    ("service", "field"),
    [
        ({"name": "Bad_Name", "model": "m.onnx"}, "name"),
        ({"name": "x" * 40, "model": "m.onnx"}, "name"),
        ({"name": "ok", "model": "m.onnx", "typo_field": 1}, "typo_field"),
        ({"name": "ok", "model": "m.onnx", "cpu": "lots"}, "cpu"),
        ({"name": "ok"}, "model"),
        ({"name": "ok", "model": "m.onnx", "min_scale": 5, "max_scale": 2}, "min_scale"),
        ({"name": "ok", "model": "m.onnx", "preprocess": {"mean": [0.5]}}, "preprocess"),
    ],
)
def test_invalid_fields_are_rejected(service: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidDefinition, match=field):
        parse_document({"services": [service]}, source="api")


def test_duplicate_names_and_unknown_keys(tmp_path: Path) -> None:
    twice = {"services": [{"name": "a", "model": "m.onnx"}, {"name": "a", "model": "n.onnx"}]}
    with pytest.raises(InvalidDefinition, match="declared twice: a"):
        parse_document(twice, source="api")
    with pytest.raises(InvalidDefinition, match="unknown top-level"):
        parse_document({"servces": []}, source="api")
    path = tmp_path / "broken.yaml"
    path.write_text("services: [unclosed")
    with pytest.raises(InvalidDefinition, match="not valid YAML"):
        load_file(path)


def test_oscar_fdl_maps_onto_our_model(tmp_path: Path) -> None:
    (tmp_path / "detect.sh").write_text('#!/bin/sh\necho detect "$INPUT_FILE_PATH"\n')
    path = tmp_path / "oscar.yaml"
    path.write_text(
        """
functions:
  oscar:
  - cluster-a:
      name: img-preprocess
      image: ghcr.io/acme/img-preprocess:1.2
      script: |
        #!/bin/sh
        convert "$INPUT_FILE_PATH" -resize 640 "$TMP_OUTPUT_DIR/out.jpg"
      memory: 1Gi
      cpu: '1.0'
      input: [{storage_provider: minio.default, path: pipeline/raw}]
      output: [{storage_provider: minio.default, path: pipeline/resized, suffix: [".jpg"]}]
  - cluster-a:
      name: detector
      image: ghcr.io/acme/yolo-detector:3.0
      script: detect.sh
      enable_gpu: true
      synchronous: {min_scale: 1, max_scale: 4}
      environment: {variables: {CONF_THRESHOLD: "0.4"}}
      input: [{storage_provider: minio.default, path: pipeline/resized}]
      output: [{storage_provider: s3.archive, path: acme-archive/detections}]
storage_providers:
  s3:
    archive: {access_key: AK, secret_key: SK, region: eu-west-1}
"""
    )
    document = load_file(path)
    pre, detector = document.services
    assert pre.runtime == "script" and "convert" in (pre.script or "")
    assert pre.output[0].path == "pipeline/resized" and pre.output[0].suffix == (".jpg",)
    assert detector.script is not None and "detect" in detector.script
    assert (detector.min_scale, detector.max_scale, detector.enable_gpu) == (1, 4, True)
    assert detector.environment == {"CONF_THRESHOLD": "0.4"}
    assert detector.input[0].path == pre.output[0].path  # the chain survives the mapping
    assert detector.output[0].storage == "archive"
    assert document.storage["archive"].region == "eu-west-1"


def test_one_oscar_service_object_as_the_api_receives_it() -> None:
    from gateway.services import parse_text

    body = (
        '{"name": "plants", "image": "ghcr.io/acme/plants:1", "script": "#!/bin/sh\\necho hi\\n",'
        ' "cpu": "0.5", "memory": "512Mi", "synchronous": {"min_scale": 0, "max_scale": 3},'
        ' "input": [{"storage_provider": "minio.default", "path": "plants/in"}]}'
    )
    (spec,) = parse_text(body, source="api").services
    assert (spec.runtime, spec.cpu, spec.max_scale) == ("script", "0.5", 3)
    assert spec.input[0].path == "plants/in" and spec.script is not None
    (ours,) = parse_text("name: digits\nmodel: m.onnx\n", source="api").services
    assert ours.runtime == "onnx"
