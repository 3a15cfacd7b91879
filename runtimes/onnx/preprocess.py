"""Image bytes -> one model input sample, per PreprocessSpec, under size limits.

Decoding is guarded: the pixel count is checked from the header before any pixel is decoded, and
JPEGs are decoded at a reduced scale (``draft``) when the target is much smaller. Normalisation
``(x / 255 - mean) / std`` is one fused multiply-add written straight into the output layout.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

from runtimes.errors import InvalidImage, PayloadTooLarge
from runtimes.onnx.spec import PreprocessSpec

_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)


class Preprocessor:
    """Turns encoded images into float32 samples shaped for the model (without the batch axis)."""

    def __init__(self, spec: PreprocessSpec, *, max_pixels: int) -> None:
        self.spec = spec
        self.max_pixels = max_pixels
        self._mode = "L" if spec.color == "grayscale" else "RGB"
        std = np.asarray(spec.std, dtype=np.float32)
        # (x / 255 - mean) / std == x * scale + offset
        self._scale = (1.0 / (255.0 * std)).astype(np.float32)
        self._offset = (-np.asarray(spec.mean, dtype=np.float32) / std).astype(np.float32)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample, e.g. (3, 224, 224) for nchw RGB or (64,) for flat 8x8 grey."""
        h, w = self.spec.size
        c = 1 if self._mode == "L" else 3
        if self.spec.layout == "nchw":
            return (c, h, w)
        if self.spec.layout == "nhwc":
            return (h, w, c)
        return (c * h * w,)

    def warm_up(self) -> None:
        """Blocking: decode one small JPEG, so the first request does not load the codecs."""
        buffer = io.BytesIO()
        Image.new(self._mode, (16, 16)).save(buffer, format="JPEG")
        with contextlib.suppress(PayloadTooLarge):  # a max_pixels below 256: codecs still load
            self(buffer.getvalue())

    def __call__(self, data: bytes) -> np.ndarray:
        """Decode ``data`` and return one normalised sample; raises InvalidImage/PayloadTooLarge."""
        pixels = self.decode(data)
        return self.normalise(pixels)

    def decode(self, data: bytes) -> np.ndarray:
        """Decode and resize to ``spec.size``: a uint8 array (H, W) or (H, W, 3)."""
        try:
            image = Image.open(io.BytesIO(data))
        except _BOMB as exc:
            raise PayloadTooLarge(f"image has too many pixels: {exc}") from None
        except UnidentifiedImageError:
            # Pillow's own message names the in-memory file object (``<_io.BytesIO at 0x...>``)
            raise InvalidImage("not a decodable image: not a format this runtime reads") from None
        except _DECODE_ERRORS as exc:
            raise InvalidImage(f"not a decodable image: {exc}") from None
        try:
            width, height = image.size
            if width * height > self.max_pixels:
                raise PayloadTooLarge(
                    f"image is {width}x{height} = {width * height:,} pixels; "
                    f"the limit is {self.max_pixels:,}"
                )
            if width < 1 or height < 1:
                raise InvalidImage("image has no pixels")
            resized = self._resize(image, width, height)
            return np.asarray(resized)
        except _DECODE_ERRORS as exc:
            raise InvalidImage(f"corrupt or truncated image: {exc}") from None
        finally:
            image.close()

    def _resize(self, image: Image.Image, width: int, height: int) -> Image.Image:
        out_h, out_w = self.spec.size
        if self.spec.resize == "crop":
            ratio = self.spec.crop_ratio
            scale = max(round(out_h / ratio) / height, round(out_w / ratio) / width)
        else:
            scale = max(out_h / height, out_w / width)
        if image.format == "JPEG" and scale < 0.5:
            # decode at 1/2, 1/4 or 1/8 scale, never below what the resize needs
            need = (math.ceil(width * scale), math.ceil(height * scale))
            image.draft(self._mode, need)
            scale *= width / image.size[0]
            width, height = image.size
        if image.mode != self._mode:
            image = _flatten(image).convert(self._mode)
        if self.spec.resize == "crop":
            # one resampling pass over the source box that becomes the centre crop
            box_w, box_h = out_w / scale, out_h / scale
            left, top = (width - box_w) / 2, (height - box_h) / 2
            box = (left, top, left + box_w, top + box_h)
            return image.resize((out_w, out_h), Image.Resampling.BILINEAR, box=box)
        if (width, height) == (out_w, out_h):
            return image
        # shrinking a lot (e.g. to an 8x8 digit): an area average keeps each cell's own ink
        shrink = width >= 2 * out_w and height >= 2 * out_h
        resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        return image.resize((out_w, out_h), resample)

    def normalise(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 pixels (H, W[, 3]) -> float32 sample in the spec's layout."""
        spec = self.spec
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if spec.invert == "always" or (spec.invert == "auto" and _dark_on_light(pixels)):
            pixels = 255 - pixels
        h, w, c = pixels.shape
        if spec.layout == "nchw":
            out = np.empty((c, h, w), dtype=np.float32)
            source: np.ndarray = pixels.transpose(2, 0, 1)
            scale, offset = self._scale[:, None, None], self._offset[:, None, None]
        else:
            out = np.empty((h, w, c), dtype=np.float32)
            source, scale, offset = pixels, self._scale, self._offset
        np.multiply(source, scale, out=out)
        out += offset
        return out.reshape(-1) if spec.layout == "flat" else out


def _dark_on_light(pixels: np.ndarray) -> bool:
    """True when the border is lighter than the whole image: dark ink on light paper."""
    grey = pixels.mean(axis=2) if pixels.shape[2] > 1 else pixels[:, :, 0]
    border = np.concatenate((grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]))
    return bool(border.mean() > grey.mean())


def _flatten(image: Image.Image) -> Image.Image:
    """Composite transparent images over white, so transparency does not turn black."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba)
    return image
