"""How the model's sessions are set up: spinning only where one run has every core; a release
run gives back the memory larger runs left in the session's arena."""

from __future__ import annotations

from typing import Any

import numpy as np

from runtimes.onnx.model import OnnxModel
from tests.runtimes.conftest import IMAGES, MIB, blank, resident

DIGITS = IMAGES / "digits" / "models" / "digits-mlp.onnx"
IMAGENET = IMAGES / "imagenet" / "models" / "efficientnet-lite0.onnx"


def _entry(session: Any, key: str) -> str:
    return str(session.get_session_options().get_session_config_entry(key))


def wide_session(model: OnnxModel) -> Any:
    return model.session(exclusive=True)


def test_the_wide_session_spins_only_while_a_run_goes_on() -> None:
    model = OnnxModel.load(DIGITS, threads=2, spin=True)
    wide = model.session(exclusive=True)
    assert _entry(wide, "session.intra_op.allow_spinning") == "1"
    assert _entry(wide, "session.force_spinning_stop") == "1"  # idle threads sleep


def test_the_one_thread_session_never_spins() -> None:
    model = OnnxModel.load(DIGITS, threads=2, spin=True)
    model.load_narrow()
    narrow = model.session(exclusive=False)
    assert narrow is not wide_session(model)
    assert _entry(narrow, "session.intra_op.allow_spinning") == "0"
    row = np.zeros((1, 64), dtype=np.float32)
    wide = model.run({model.input().name: row}, exclusive=True)
    one = model.run({model.input().name: row}, exclusive=False)
    assert np.allclose(wide[0], one[0], atol=1e-5)  # same model either way


def test_spinning_can_be_turned_off() -> None:
    model = OnnxModel.load(DIGITS, threads=2, spin=False)
    assert _entry(model.session(exclusive=True), "session.intra_op.allow_spinning") == "0"


def test_a_release_run_gives_back_what_a_larger_batch_left_in_the_arena() -> None:
    model = OnnxModel.load(IMAGENET, threads=1)
    model.run(blank(model, 1))
    small = resident()
    model.run(blank(model, 16))
    grown = resident() - small
    assert grown > 40 * MIB  # the arena keeps a batch's memory (else this test shows nothing)
    model.run(blank(model, 1), release=True)
    assert resident() - small < grown / 2
    scores = model.run(blank(model, 1))[0]
    assert scores.shape == (1, 1000)  # the session goes on serving
