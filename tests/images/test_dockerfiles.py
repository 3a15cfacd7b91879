"""The Dockerfiles, checked without a Docker engine: hadolint, build context, stages, settings.

None of this builds an image (there is no engine here); it checks what can go wrong before a
build starts (a COPY of a missing or ignored file, a stage that does not exist) and what the
image promises (non-root, a healthcheck, no build tools or pip runs in the final stage, the
model's settings equal to its service.yaml, onnxruntime-gpu in place of onnxruntime).
"""

from __future__ import annotations

import glob
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath

import pytest

from runtimes.onnx.spec import BatchingSpec, PostprocessSpec, PreprocessSpec
from tests.images.dockerfile import (
    Dockerfile,
    Stage,
    copy_sources,
    dockerignore_patterns,
    ignored,
    parse,
)
from tests.images.repo import (
    CPU_DOCKERFILES,
    DOCKERFILES,
    GATEWAY_DOCKERFILE,
    GPU_DOCKERFILES,
    MODEL_IMAGES,
    MODELS,
    ROOT,
    dockerfile_id,
    service,
)

BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|clang|make|python3?-dev|cmake)\b")
RUNTIME_BASES = re.compile(r"^(python:3\.\d+-slim(-\w+)?|nvidia/cuda:[\d.]+-(cudnn-)?runtime-.+)$")


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if found is None:
        pytest.fail("hadolint is missing: it comes with the dev extra (pip install -e '.[dev]')")
    return found


@pytest.fixture(params=DOCKERFILES, ids=dockerfile_id)
def dockerfile(request: pytest.FixtureRequest) -> Dockerfile:
    return parse(request.param)


def model_of(dockerfile: Dockerfile) -> str:
    return dockerfile.path.parent.name


def test_every_model_has_a_cpu_and_a_gpu_dockerfile() -> None:
    assert MODELS, "no model_images/*/service.yaml"
    for model in MODELS:
        assert (MODEL_IMAGES / model / "Dockerfile").is_file(), model
        assert (MODEL_IMAGES / model / "Dockerfile.gpu").is_file(), model


@pytest.mark.parametrize("path", DOCKERFILES, ids=dockerfile_id)
def test_hadolint_is_clean(path: Path) -> None:
    # Run from the root so that a .hadolint.yaml there would apply (none is needed so far:
    # the only ignores are inline, each with its reason on the line above).
    result = subprocess.run(
        [hadolint(), "--no-color", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_copy_sources_exist_in_the_build_context(dockerfile: Dockerfile) -> None:
    """Every COPY/ADD from the context names files that exist and .dockerignore keeps."""
    patterns = dockerignore_patterns(ROOT / ".dockerignore")
    for stage in dockerfile.stages:
        for instruction in stage.of("COPY") + stage.of("ADD"):
            if "from" in instruction.flags:
                continue
            for source in copy_sources(instruction):
                where = f"{dockerfile_id(dockerfile.path)}:{instruction.line}: {source}"
                assert not source.startswith(("/", "..")), f"{where}: outside the context"
                matches = glob.glob(source, root_dir=ROOT)
                assert matches, f"{where}: no such file in the repository"
                for match in matches:
                    assert not ignored(match, patterns), f"{where}: left out by .dockerignore"
                if source.endswith("/"):
                    assert (ROOT / source).is_dir(), f"{where}: not a directory"


def test_copy_from_names_an_earlier_stage_that_makes_the_path(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        for instruction in stage.of("COPY"):
            ref = instruction.flags.get("from")
            if ref is None:
                continue
            where = f"{dockerfile_id(dockerfile.path)}:{instruction.line}"
            source_stage = dockerfile.stage(ref)
            assert source_stage is not None, f"{where}: no stage {ref!r}"
            assert source_stage.index < stage.index, (
                f"{where}: stage {ref!r} is not an earlier stage"
            )
            for source in copy_sources(instruction):
                assert _made_by(source_stage, PurePosixPath(source)), (
                    f"{where}: stage {ref!r} does not make {source}"
                )


def _made_by(stage: Stage, path: PurePosixPath) -> bool:
    """Whether ``stage`` makes ``path``: a RUN names it, or it is the ``models/`` folder that a
    prepare.py copied into the stage writes next to itself."""
    for instruction in stage.of("RUN"):
        if str(path) in shlex.split(instruction.args):
            return True
    for instruction in stage.of("COPY"):
        sources = copy_sources(instruction)
        if not any(s.endswith("/prepare.py") for s in sources):
            continue
        destination = stage.workdir(instruction) / instruction.words()[-1]
        prepare = ROOT / sources[0]
        writes_models = 'HERE / "models"' in prepare.read_text(encoding="utf-8")
        if writes_models and path == destination / "models":
            return True
    return False


def test_the_final_stage_is_slim_non_root_and_checks_its_health(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    where = dockerfile_id(dockerfile.path)
    base = dockerfile.base_image(final)
    assert RUNTIME_BASES.match(base), f"{where}: final stage on {base}, not a runtime base"
    users = final.of("USER")
    assert users, f"{where}: the image runs as root"
    assert users[-1].args.split(":")[0] not in ("0", "root"), f"{where}: USER is root"
    (health,) = final.of("HEALTHCHECK")
    assert "/v2/health/" in health.args, f"{where}: the healthcheck probes no health route"
    assert "interval" in health.flags and "timeout" in health.flags
    for instruction in final.of("RUN"):
        assert "pip install" not in instruction.args, f"{where}: pip runs in the final stage"
        assert not BUILD_TOOLS.search(instruction.args), f"{where}: build tools in the image"
    copies = [i for i in final.of("COPY") if i.flags.get("from") is not None]
    assert any(copy_sources(i) == ["/opt/venv"] for i in copies), f"{where}: no venv copied"
    assert "/opt/venv/bin" in final.env()["PATH"]


def test_base_images_are_pinned_to_a_version(dockerfile: Dockerfile) -> None:
    names = {s.name for s in dockerfile.stages if s.name}
    for stage in dockerfile.stages:
        if stage.base in names:
            continue
        tag = stage.base.partition(":")[2]
        assert tag and tag != "latest", f"{dockerfile_id(dockerfile.path)}: {stage.base}"
        assert re.search(r"\d", tag), f"{stage.base}: the tag names no version"


def test_the_gateway_image_serves_on_all_interfaces() -> None:
    dockerfile = parse(GATEWAY_DOCKERFILE)
    final = dockerfile.final
    env = final.env()
    assert env["GATEWAY_HOST"] == "0.0.0.0"
    assert env["GATEWAY_PORT"] == "8080"
    assert [e.args for e in final.of("EXPOSE")] == ["8080"]
    (entrypoint,) = final.of("ENTRYPOINT")
    (cmd,) = final.of("CMD")
    assert entrypoint.words() + cmd.words() == ["gateway", "serve"]
    (health,) = final.of("HEALTHCHECK")
    assert "/v2/health/live" in health.args
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["gateway"] == "gateway.cli:main"


@pytest.mark.parametrize("path", [*CPU_DOCKERFILES, *GPU_DOCKERFILES], ids=dockerfile_id)
def test_the_model_is_exported_once_on_the_build_platform(path: Path) -> None:
    """The export stage runs natively ($BUILDPLATFORM): no torch under QEMU, one ONNX file."""
    dockerfile = parse(path)
    exports = [s for s in dockerfile.stages if s.name == "export"]
    assert len(exports) == 1
    (export,) = exports
    assert export.platform == "$BUILDPLATFORM"
    assert any(
        f"model_images/{model_of(dockerfile)}/prepare.py" in i.args for i in export.of("RUN")
    )
    (cmd,) = dockerfile.final.of("CMD")
    assert cmd.words() == ["python", "-m", "runtimes.onnx"]


@pytest.mark.parametrize("path", [*CPU_DOCKERFILES, *GPU_DOCKERFILES], ids=dockerfile_id)
def test_the_runtime_settings_equal_the_service_definition(path: Path) -> None:
    """The image's RUNTIME_* defaults run the model as its service.yaml describes it."""
    dockerfile = parse(path)
    spec = service(model_of(dockerfile))
    env = dockerfile.final.env()
    assert env["RUNTIME_NAME"] == spec["name"]
    assert env["RUNTIME_PORT"] == "8080"
    assert [e.args for e in dockerfile.final.of("EXPOSE")] == ["8080"]
    for key, field in (("RUNTIME_MODEL_PATH", "model"), ("RUNTIME_LABELS_PATH", "labels")):
        relative = PurePosixPath(spec[field])
        assert relative.parent == PurePosixPath("models"), f"{field}: {relative}"
        assert env[key] == f"/models/{relative.name}"
    for key, field, model in (
        ("RUNTIME_PREPROCESS", "preprocess", PreprocessSpec),
        ("RUNTIME_POSTPROCESS", "postprocess", PostprocessSpec),
        ("RUNTIME_BATCHING", "batching", BatchingSpec),
    ):
        in_image = model.model_validate(json.loads(env.get(key, "{}")))
        assert in_image == model.model_validate(spec.get(field, {})), key


@pytest.mark.parametrize("path", GPU_DOCKERFILES, ids=dockerfile_id)
def test_the_gpu_image_swaps_onnxruntime_for_onnxruntime_gpu(path: Path) -> None:
    """Run the Dockerfile's own requirement step: pyproject's dependencies minus onnxruntime."""
    dockerfile = parse(path)
    build = dockerfile.stage("build")
    assert build is not None
    assert "nvidia/cuda:" in dockerfile.base_image(dockerfile.final)
    assert dockerfile.base_image(build) == dockerfile.base_image(dockerfile.final), (
        "the venv must be built on the Python it runs on"
    )
    runs = [i.args for i in build.of("RUN")]
    (derive,) = [r for r in runs if "tomllib" in r]
    code = shlex.split(derive)[2]  # python3 -c '<code>' > requirements-gpu.txt && ...
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.startswith("onnxruntime") for d in dependencies)
    expected = [d for d in dependencies if not d.startswith("onnxruntime")]
    assert result.stdout.splitlines() == expected
    assert '-r requirements-gpu.txt "$ONNXRUNTIME_GPU"' in derive
    (arg,) = build.of("ARG")
    assert re.fullmatch(r"ONNXRUNTIME_GPU=onnxruntime-gpu==[\d.]+", arg.args)
    (install,) = [r for r in runs if "--no-deps ." in r]
    assert "CUDAExecutionProvider" in install


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = dockerignore_patterns(ROOT / ".dockerignore")
    for path in (
        ".git/HEAD",
        ".venv/bin/python",
        ".venv-export/bin/python",
        ".data/jobs.db",
        "gateway/__pycache__/app.cpython-311.pyc",
        "model_images/digits/models/digits-mlp.onnx",
        "model_images/imagenet/samples/flower.jpg",
    ):
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "README.md", "gateway/app.py", "runtimes/onnx/model.py"):
        assert not ignored(path, patterns), path
