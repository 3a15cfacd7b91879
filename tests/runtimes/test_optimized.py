"""The optimised-model cache (``runtimes.onnx.optimized``): built once, loaded on the next start,
never trusted when the model changed or the file is corrupt; the answers stay the same."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from runtimes.onnx.model import OnnxModel
from runtimes.onnx.optimized import cache_file
from tests.runtimes.conftest import IMAGES

DIGITS = IMAGES / "digits" / "models" / "digits-mlp.onnx"
IMAGENET = IMAGES / "imagenet" / "models" / "efficientnet-lite0.onnx"
LOGGER = "runtimes.onnx.optimized"


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    """A copy of the digits model that a test may replace."""
    path = tmp_path / "model" / "digits.onnx"
    path.parent.mkdir()
    shutil.copy(DIGITS, path)
    return path


def _scores(model: OnnxModel) -> np.ndarray:
    info = model.input()
    sample = np.linspace(0, 16, num=64, dtype=np.float32).reshape(1, 64)
    return np.concatenate(
        [out.ravel().astype(np.float64) for out in model.run({info.name: sample})]
    )


def _files(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.onnx"))


def test_a_second_start_loads_the_optimised_model(
    model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    first = OnnxModel.load(model_path, threads=1, cache_dir=cache)
    [saved] = _files(cache)
    written = saved.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger=LOGGER):
        second = OnnxModel.load(model_path, threads=1, cache_dir=cache)
    assert f"loaded the optimised model {saved}" in caplog.text
    assert _files(cache) == [saved]
    assert saved.stat().st_mtime_ns == written  # read, not written again
    plain = OnnxModel.load(model_path, threads=1)
    np.testing.assert_allclose(_scores(second), _scores(plain), rtol=1e-5)
    np.testing.assert_allclose(_scores(first), _scores(plain), rtol=1e-5)


def test_a_changed_model_is_optimised_again(
    model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    OnnxModel.load(model_path, threads=1, cache_dir=cache)
    [old] = _files(cache)
    shutil.copy(IMAGENET, model_path)  # same path, another model
    with caplog.at_level(logging.INFO, logger=LOGGER):
        changed = OnnxModel.load(model_path, threads=1, cache_dir=cache)
    assert "loaded the optimised model" not in caplog.text
    assert changed.outputs[0].shape[-1] == 1000  # the new model, not the stale file
    assert len(_files(cache)) == 2 and old in _files(cache)


def test_a_corrupt_optimised_model_is_replaced(
    model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    expected = _scores(OnnxModel.load(model_path, threads=1, cache_dir=cache))
    [saved] = _files(cache)
    saved.write_bytes(b"\x08\x07not a model")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        rebuilt = OnnxModel.load(model_path, threads=1, cache_dir=cache)
    assert "does not load" in caplog.text and "rebuilding it" in caplog.text
    np.testing.assert_allclose(_scores(rebuilt), expected, rtol=1e-5)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        OnnxModel.load(model_path, threads=1, cache_dir=cache)
    assert f"loaded the optimised model {saved}" in caplog.text
    assert "does not load" not in caplog.text


def test_a_cache_folder_that_cannot_be_made_only_costs_the_cache(
    model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        model = OnnxModel.load(model_path, threads=1, cache_dir=blocker / "cache")
    assert "cannot cache the optimised model" in caplog.text
    np.testing.assert_allclose(_scores(model), _scores(OnnxModel.load(model_path, threads=1)))


def test_the_one_thread_session_shares_the_optimised_model(
    model_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "cache"
    model = OnnxModel.load(
        model_path, threads=2, available=["CPUExecutionProvider"], cache_dir=cache
    )
    [saved] = _files(cache)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        model.load_narrow()
    assert f"loaded the optimised model {saved}" in caplog.text
    assert _files(cache) == [saved]


def test_the_cache_key_follows_the_optimisation_level(model_path: Path, tmp_path: Path) -> None:
    levels = ort.GraphOptimizationLevel
    cpu = ["CPUExecutionProvider"]
    full = cache_file(tmp_path, model_path, levels.ORT_ENABLE_ALL, cpu)
    basic = cache_file(tmp_path, model_path, levels.ORT_ENABLE_BASIC, cpu)
    assert full != basic
    assert full == cache_file(tmp_path, model_path, levels.ORT_ENABLE_ALL, cpu)
