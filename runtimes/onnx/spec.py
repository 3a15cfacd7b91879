"""What a service definition says about its model: pre-processing, post-processing, batching.

These pydantic models are the contract between a service definition (validated by the gateway when
it loads an FDL file) and the ONNX runtime (which receives them as JSON in its environment). They
hold no behaviour: `preprocess.py` and `batcher.py` act on them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PreprocessSpec(BaseModel):
    """How an image becomes the model's input tensor.

    Pixel values are first divided by 255, then normalised per channel: ``(x / 255 - mean) / std``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: tuple[int, int] = Field(default=(224, 224), description="height, width of the input")
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    color: Literal["rgb", "grayscale"] = "rgb"
    resize: Literal["crop", "stretch"] = Field(
        default="crop",
        description="crop: scale the shorter side to size / crop_ratio, then centre-crop; "
        "stretch: resize to size ignoring the aspect ratio",
    )
    crop_ratio: float = Field(default=0.875, gt=0.0, le=1.0)
    layout: Literal["nchw", "nhwc", "flat"] = "nchw"
    invert: Literal["auto", "always", "never"] = Field(
        default="never",
        description="auto: invert grey levels when the image is dark ink on a light background",
    )

    @model_validator(mode="after")
    def _check_channels(self) -> PreprocessSpec:
        channels = 1 if self.color == "grayscale" else 3
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean and std need {channels} value(s) for color={self.color}")
        if any(s == 0 for s in self.std):
            raise ValueError("std values must not be 0")
        if min(self.size) < 1:
            raise ValueError("size must be positive")
        return self


class PostprocessSpec(BaseModel):
    """How the model's output becomes top-k predictions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    output: str | None = Field(
        default=None, description="output tensor to read; default: the first 2-D float output"
    )
    activation: Literal["auto", "softmax", "none"] = Field(
        default="auto", description="auto: softmax unless the rows already are probabilities"
    )


class BatchingSpec(BaseModel):
    """Adaptive batching knobs (a batch leaves when full or when its oldest request is due)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    max_batch_size: int = Field(default=16, ge=1, le=1024)
    max_latency_ms: float = Field(default=5.0, ge=0.0, le=10_000.0)
    max_queue: int = Field(default=256, ge=1)
