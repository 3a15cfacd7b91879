"""`make images` (images.mk): the tags it builds, that service.yaml names them, and how it fails.

No Docker engine runs here: the tags come from `make -n` (print, do not run), and the real runs
go through DOCKER=<a stand-in script> that records its arguments or fails like a machine without
buildx or without an engine.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.images.repo import DOCKERFILES, MODELS, ROOT, service

AMD64 = "linux/amd64"
ARM64 = "linux/arm64"


@dataclass(frozen=True)
class Build:
    """One `docker buildx build` that the images target runs."""

    dockerfile: str
    tag: str
    platforms: frozenset[str]
    output: str


def make(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("REGISTRY", "VERSION", "PUSH")}
    clean.pop("MAKEFLAGS", None)
    clean.pop("PLATFORMS", None)
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def parse_builds(output: str) -> list[Build]:
    """The `docker buildx build` commands in make's output (continuation lines joined)."""
    builds = []
    for line in output.replace("\\\n", " ").splitlines():
        words = shlex.split(line)
        if words[1:3] != ["buildx", "build"]:
            continue
        options: dict[str, str] = {}
        flags = set()
        i = 3
        while i < len(words) - 1:
            if words[i] in ("-f", "-t", "--platform"):
                options[words[i]] = words[i + 1]
                i += 2
            else:
                flags.add(words[i])
                i += 1
        assert words[-1] == ".", f"the context must be the repository root: {line}"
        (output_flag,) = flags & {"--load", "--push"}
        builds.append(
            Build(
                options["-f"],
                options["-t"],
                frozenset(options["--platform"].split(",")),
                output_flag,
            )
        )
    return builds


def planned(*args: str, **env: str) -> list[Build]:
    result = make("-n", "-f", "images.mk", "images", *args, **env)
    assert result.returncode == 0, result.stderr
    return parse_builds(result.stdout)


def project_version() -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert isinstance(version, str)
    return version


def test_images_builds_every_dockerfile_once() -> None:
    builds = planned()
    built = sorted(b.dockerfile for b in builds)
    assert built == sorted(str(p.relative_to(ROOT)) for p in DOCKERFILES)
    assert len({b.tag for b in builds}) == len(builds), "two images share a tag"
    assert {b.output for b in builds} == {"--load"}


def test_cpu_images_are_multi_arch_and_gpu_images_amd64() -> None:
    version = project_version()
    by_file = {b.dockerfile: b for b in planned()}
    gateway = by_file["Dockerfile"]
    assert gateway.tag == f"inference-gateway/gateway:{version}"
    assert gateway.platforms == {AMD64, ARM64}
    for model in MODELS:
        cpu = by_file[f"model_images/{model}/Dockerfile"]
        gpu = by_file[f"model_images/{model}/Dockerfile.gpu"]
        assert cpu.tag == f"inference-gateway/{model}:{version}"
        assert cpu.platforms == {AMD64, ARM64}
        assert gpu.tag == f"inference-gateway/{model}:{version}-gpu"
        assert gpu.platforms == {AMD64}


@pytest.mark.parametrize("model", MODELS)
def test_service_yaml_names_the_tags_make_images_builds(model: str) -> None:
    """image: the multi-arch CPU tag; variants.arm64: a tag with an arm64 image (the same
    multi-arch one); variants.gpu: the CUDA tag."""
    by_tag = {b.tag: b for b in planned()}
    spec = service(model)
    image = by_tag.get(spec["image"])
    assert image is not None, f"{model}: image {spec['image']} is not built by make images"
    assert image.dockerfile == f"model_images/{model}/Dockerfile"
    assert image.platforms == {AMD64, ARM64}
    variants = spec.get("variants", {})
    assert set(variants) <= {"amd64", "arm64", "gpu"}
    assert "gpu" in variants and "arm64" in variants
    assert by_tag[variants["gpu"]].dockerfile == f"model_images/{model}/Dockerfile.gpu"
    for arch in ("amd64", "arm64"):
        if arch in variants:
            assert f"linux/{arch}" in by_tag[variants[arch]].platforms, arch


def test_registry_version_push_and_platforms_can_be_overridden() -> None:
    builds = planned(
        "REGISTRY=registry.example/acme", "VERSION=2.0.0-rc1", "PUSH=1", f"PLATFORMS={ARM64}"
    )
    assert {b.output for b in builds} == {"--push"}
    tags = {b.tag for b in builds}
    assert "registry.example/acme/gateway:2.0.0-rc1" in tags
    assert "registry.example/acme/digits:2.0.0-rc1-gpu" in tags
    by_file = {b.dockerfile: b for b in builds}
    assert by_file["Dockerfile"].platforms == {ARM64}
    assert by_file["model_images/digits/Dockerfile.gpu"].platforms == {AMD64}


def test_the_makefile_includes_images_mk() -> None:
    via_makefile = make("-n", "images")
    assert via_makefile.returncode == 0, via_makefile.stderr
    assert parse_builds(via_makefile.stdout) == planned()
    assert make("-n").stdout == make("-n", "run").stdout, "the default goal moved"


def fake_docker(tmp_path: Path, *, buildx: bool = True, engine: bool = True) -> Path:
    """A `docker` stand-in: fails `buildx version` or `info` as asked, logs `buildx build`."""
    log = tmp_path / "docker.log"
    script = tmp_path / "docker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1 $2" = "buildx version" ]; then exit {0 if buildx else 1}; fi\n'
        f'if [ "$1" = "info" ]; then exit {0 if engine else 1}; fi\n'
        f'echo "$@" >> {shlex.quote(str(log))}\n'
    )
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("docker", "message"),
    [
        ("missing", "is not installed"),
        ("no-buildx", "docker buildx is missing"),
        ("no-engine", "no Docker engine answers"),
    ],
)
def test_images_fails_clearly_without_docker(tmp_path: Path, docker: str, message: str) -> None:
    if docker == "missing":
        path = tmp_path / "no-such-docker"
    else:
        path = fake_docker(tmp_path, buildx=docker != "no-buildx", engine=docker != "no-engine")
    result = make("-f", "images.mk", "images", f"DOCKER={path}")
    assert result.returncode != 0
    assert result.stderr.startswith("make images: ")
    assert message in result.stderr.splitlines()[0]
    assert not (tmp_path / "docker.log").exists(), "a build started anyway"


def test_images_runs_the_builds_where_docker_answers(tmp_path: Path) -> None:
    docker = fake_docker(tmp_path)
    result = make("-f", "images.mk", "images", f"DOCKER={docker}")
    assert result.returncode == 0, result.stderr
    logged = (tmp_path / "docker.log").read_text().splitlines()
    ran = parse_builds("\n".join(f"docker {line}" for line in logged))
    assert sorted(ran, key=lambda b: b.tag) == sorted(planned(), key=lambda b: b.tag)
