"""Train a small MLP on scikit-learn's bundled 8x8 digits and export it to ONNX.

Data and split (the tests reuse exactly this split to evaluate on the held-out 25 %)::

    X, y = sklearn.datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )

Features are the raw grey levels 0..16 (64 floats, the 8x8 image row-major, light ink on a dark
background); nothing scales them in front of the model. Training is deterministic (fixed
``random_state``).

Outputs, next to this file::

    models/digits-mlp.onnx    input "input" float32 [N, 64] (raw 0..16 values)
                              outputs "label" int64 [N], "probabilities" float32 [N, 10]
    models/digits-labels.txt  "0".."9", one per line (line i = class i)

The held-out accuracy is measured with ONNX Runtime on the exported file and must reach 0.95,
otherwise the script fails and leaves any previous model in place.

Run with the export environment: ``.venv-export/bin/python model_images/digits/prepare.py``.
It does nothing when every output is newer than this script, unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "models" / "digits-mlp.onnx"
LABELS_PATH = HERE / "models" / "digits-labels.txt"
OUTPUTS = (LABELS_PATH, MODEL_PATH)

SEED = 0
MIN_ACCURACY = 0.95
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def log(message: str) -> None:
    print(f"[digits] {message}", flush=True)


@contextmanager
def timed(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log(f"{what} in {time.perf_counter() - start:.2f} s")


def up_to_date(outputs: Sequence[Path], source: Path) -> bool:
    """True when every output exists and is newer than ``source``."""
    if not all(path.exists() for path in outputs):
        return False
    return min(path.stat().st_mtime for path in outputs) >= source.stat().st_mtime


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Let ``write`` fill a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o644)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed split: X_train, X_test, y_train, y_test (75 % / 25 %, stratified, seed 0)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    return X_train, X_test, y_train, y_test


def train(X: np.ndarray, y: np.ndarray) -> MLPClassifier:
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=500, random_state=SEED)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # an unconverged model fails loudly
        clf.fit(X, y)
    assert list(clf.classes_) == list(range(10)), f"unexpected classes {clf.classes_}"
    return clf


def to_onnx(clf: MLPClassifier) -> bytes:
    onx = convert_sklearn(
        clf,
        initial_types=[("input", FloatTensorType([None, 64]))],
        name="digits_mlp",  # a fixed graph name (default: a random uuid) keeps the bytes stable
        options={id(clf): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return onx.SerializeToString()


def accuracy(path: Path, X: np.ndarray, y: np.ndarray) -> float:
    """Held-out accuracy of the ONNX file, checking its outputs' names, types and shapes."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(["label", "probabilities"], {"input": X.astype(np.float32)})
    assert label.dtype == np.int64 and label.shape == (len(X),), (label.dtype, label.shape)
    assert probabilities.dtype == np.float32 and probabilities.shape == (len(X), 10)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-4), "rows are not probabilities"
    assert np.array_equal(label, probabilities.argmax(axis=1)), "label != argmax(probabilities)"
    return float((label == y).mean())


def prepare() -> None:
    start = time.perf_counter()
    X_train, X_test, y_train, y_test = split()
    with timed(f"trained on {len(X_train)} images"):
        clf = train(X_train, y_train)
    with timed("converted"):
        model = to_onnx(clf)

    def write_and_check(tmp: Path) -> None:
        tmp.write_bytes(model)
        acc = accuracy(tmp, X_test, y_test)
        log(f"held-out accuracy (onnxruntime, {len(X_test)} images): {acc:.4f}")
        if acc < MIN_ACCURACY:
            raise SystemExit(f"[digits] accuracy {acc:.4f} is below {MIN_ACCURACY}")

    write_atomic(LABELS_PATH, lambda tmp: tmp.write_text("".join(f"{d}\n" for d in range(10))))
    write_atomic(MODEL_PATH, write_and_check)
    log(f"wrote {MODEL_PATH.relative_to(HERE)} ({MODEL_PATH.stat().st_size / 1e3:.0f} KB)")
    log(f"done in {time.perf_counter() - start:.2f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    if not args.force and up_to_date(OUTPUTS, Path(__file__).resolve()):
        log("up to date")
        return 0
    prepare()
    return 0


if __name__ == "__main__":
    sys.exit(main())
