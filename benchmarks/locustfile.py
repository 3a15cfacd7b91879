"""Locust users that post one raw image per request to a predict endpoint.

Environment (read once, at import):

- ``BENCH_MODEL``: ``imagenet`` (default; the flower JPEG) or ``digits`` (an 8x8 digit PNG);
  it picks which user class runs.
- ``BENCH_RATE``: requests per second per user (locust's ``constant_throughput``); unset or 0:
  back to back.
- ``BENCH_PATH``: the request path; default ``/predict/<model>`` (the gateway). Use
  ``/predict`` to load a runtime directly.

Run by hand from the repository root, e.g.::

    PYTHONPATH=. locust -f benchmarks/locustfile.py --headless -u 8 -r 8 -t 15s \
        --host http://127.0.0.1:8080
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from locust import FastHttpUser, constant, constant_throughput, tag, task

# locust puts this file's folder on sys.path, not the repository root that holds the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.payloads import PAYLOADS, Payload

MODEL = os.environ.get("BENCH_MODEL", "imagenet")
if MODEL not in PAYLOADS:
    raise SystemExit(f"BENCH_MODEL must be one of {sorted(PAYLOADS)}, not {MODEL!r}")
PATH = os.environ.get("BENCH_PATH", f"/predict/{MODEL}")
RATE = float(os.environ.get("BENCH_RATE") or 0)


class PredictUser(FastHttpUser):
    """Posts ``payload`` to ``PATH`` back to back; anything but a 200 counts as a failure."""

    abstract = True
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)
    model = ""
    payload = Payload(b"", "application/octet-stream")

    def predict(self) -> None:
        headers = {"Content-Type": self.payload.content_type}
        with self.client.post(
            PATH,
            data=self.payload.body,  # type: ignore[arg-type]  # bytes: see its docstring
            headers=headers,
            name=f"predict {self.model}",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")


class ImagenetUser(PredictUser):
    """Classifies the flower photo (EfficientNet-Lite0)."""

    abstract = MODEL != "imagenet"
    model = "imagenet"
    payload = PAYLOADS["imagenet"]() if MODEL == "imagenet" else PredictUser.payload

    @tag("imagenet")
    @task
    def classify(self) -> None:
        self.predict()


class DigitsUser(PredictUser):
    """Classifies one 8x8 digit (a tiny MLP: measures the serving overhead, not the model)."""

    abstract = MODEL != "digits"
    model = "digits"
    payload = PAYLOADS["digits"]() if MODEL == "digits" else PredictUser.payload

    @tag("digits")
    @task
    def classify(self) -> None:
        self.predict()
