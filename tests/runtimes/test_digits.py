"""The digits MLP through /predict: rendered PNGs, both ink polarities, held-out accuracy."""

from __future__ import annotations

import httpx
import pytest

from tests.support import digit_png, digits_holdout

BATCH = 64  # the fixture's max_files


@pytest.mark.parametrize("ink_on_paper", [True, False], ids=["dark-on-white", "light-on-dark"])
async def test_held_out_accuracy(digits: httpx.AsyncClient, ink_on_paper: bool) -> None:
    x_test, y_test = digits_holdout()
    pngs = [digit_png(pixels, ink_on_paper=ink_on_paper, scale=4) for pixels in x_test]
    predicted: list[int] = []
    for start in range(0, len(pngs), BATCH):
        files = [("file", (f"{i}.png", png)) for i, png in enumerate(pngs[start : start + BATCH])]
        response = await digits.post("/predict", files=files, params={"top_k": 1})
        assert response.status_code == 200, response.text
        results = response.json()["results"] if len(files) > 1 else [response.json()]
        predicted += [int(r["predictions"][0]["label"]) for r in results]
    accuracy = sum(p == y for p, y in zip(predicted, y_test, strict=True)) / len(y_test)
    assert accuracy >= 0.95, accuracy


async def test_single_digit_answer(digits: httpx.AsyncClient) -> None:
    x_test, y_test = digits_holdout()
    png = digit_png(x_test[0], ink_on_paper=True)
    response = await digits.post("/predict", content=png, headers={"content-type": "image/png"})
    answer = response.json()
    assert answer["service"] == "digits"
    assert answer["model"] == "digits-mlp"
    assert answer["predictions"][0]["label"] == str(y_test[0])
    assert abs(sum(p["score"] for p in answer["predictions"]) - 1.0) < 0.05
