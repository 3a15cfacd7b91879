"""Fixed batch sizes for a GPU session (``runtimes/onnx/fixed.py``), on the CPU: each session
only ever sees its own batch size, and a padded batch answers exactly its own rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from runtimes.onnx.fixed import FixedBatches, batch_of, batch_sizes
from runtimes.onnx.model import OnnxModel
from tests.runtimes.conftest import service_settings

CPU = ["CPUExecutionProvider"]


def test_sizes_are_powers_of_two_up_to_the_largest_batch_and_at_most_six() -> None:
    assert batch_sizes(16) == (1, 2, 4, 8, 16)
    assert batch_sizes(6) == (1, 2, 4, 6)
    assert batch_sizes(1) == (1,)
    assert batch_sizes(32) == (1, 2, 4, 8, 16, 32)
    assert batch_sizes(64) == (1, 4, 16, 64)  # seven powers of two: too many sessions
    assert batch_sizes(1024) == (1, 4, 16, 64, 256, 1024)
    assert batch_sizes(5000) == (1, 8, 64, 512, 4096, 5000)
    assert batch_of({"a": np.zeros((3, 2)), "b": np.zeros((3,))}) == 3
    assert batch_of({"a": np.zeros((3, 2)), "b": np.zeros((2,))}) is None
    assert batch_of({"a": np.zeros(())}) is None


class Recording:
    """A real session that notes the first dimension of every feed it is given."""

    def __init__(self, path: str, seen: list[tuple[int, int]], index: int) -> None:
        self._session = ort.InferenceSession(path, providers=CPU)
        self._seen, self._index = seen, index

    def run(self, names: Sequence[str], feeds: Mapping[str, np.ndarray]) -> Any:
        for array in feeds.values():
            self._seen.append((self._index, array.shape[0]))
        return self._session.run(names, dict(feeds))


def test_a_batch_runs_padded_in_its_size_session_and_answers_its_own_rows() -> None:
    path = str(service_settings("digits").model_path)
    seen: list[tuple[int, int]] = []
    opened = iter(range(10))
    fixed = FixedBatches(lambda: Recording(path, seen, next(opened)), [4, 1, 2])
    direct = ort.InferenceSession(path, providers=CPU)
    rng = np.random.default_rng(7)
    for rows in (3, 1, 2, 4, 3):
        sample = {"input": rng.random((rows, 64), dtype=np.float32) * 16}
        label, probabilities = fixed.run(["label", "probabilities"], sample, rows)
        expected_label, expected_probabilities = direct.run(None, sample)
        assert label.shape == (rows,) and probabilities.shape == (rows, 10)
        np.testing.assert_array_equal(label, expected_label)
        np.testing.assert_allclose(probabilities, expected_probabilities, rtol=1e-5, atol=1e-6)
    sizes = dict(zip(range(3), (1, 2, 4), strict=True))  # opened in size order
    assert all(shape == sizes[index] for index, shape in seen)
    assert [shape for _, shape in seen] == [4, 1, 2, 4, 4]
    assert fixed.size_for(5) is None


def test_a_model_off_the_cpu_runs_fixed_sizes_and_a_cpu_model_does_not() -> None:
    settings = service_settings("digits")
    model = OnnxModel.load(settings.model_path, threads=1, available=CPU)
    model.fix_batches(8)
    assert model.batch_sizes == (1,)  # on the CPU a shape change costs nothing
    model.provider = "CUDAExecutionProvider"  # what a GPU session reports first
    model.fix_batches(8)
    assert model.batch_sizes == (1, 2, 4, 8)
    sample = np.random.default_rng(3).random((3, 64), dtype=np.float32) * 16
    label, probabilities = model.run({"input": sample})
    assert label.shape == (3,) and probabilities.shape == (3, 10)
    [too_many] = model.run({"input": np.concatenate([sample] * 3)}, ["probabilities"])
    assert too_many.shape == (9, 10)  # larger than every size: the model's own session
    np.testing.assert_allclose(too_many[:3], probabilities, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(-1, 3), (1, 3)])
def test_only_a_dynamic_first_dimension_gets_fixed_sizes(shape: tuple[int, ...]) -> None:
    settings = service_settings("digits")
    model = OnnxModel.load(settings.model_path, threads=1, available=CPU)
    model.provider = "CUDAExecutionProvider"
    model.inputs = (model.inputs[0].__class__("input", "FP32", shape),)
    model.fix_batches(4)
    assert model.batch_sizes == ((1, 2, 4) if shape[0] == -1 else (1,))
