"""FixedBatches: on a GPU, one session per batch size, each only ever run at its own size.

ONNX Runtime's CUDA provider sets its cuDNN convolutions up again whenever a session's input
shape changes, cached or not. Measured on an H200 (EfficientNet-Lite0, ORT 1.31): 0.7-1.3 s per
change with its default exhaustive search, 70-300 ms with the heuristic one, against 1.5 ms for a
run of 1 image and 2.9 ms for 16 at a fixed shape. A batcher that sends batches of 1, then 3,
then 2 to one session spends its time there. So a batch of n runs in the session of the smallest
size >= n, zero-padded to that size, and keeps the first n rows of each output. The sizes are the
powers of two below the largest batch, and the largest (at most half of a run is padding); for a
largest batch above 32, powers of four or more, so that there are at most six sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: sessions at most: each holds its own copy of the weights on the GPU and warms up for ~1 s
MOST_SIZES = 6


def batch_sizes(largest: int, most: int = MOST_SIZES) -> tuple[int, ...]:
    """1, 2, 4... below ``largest``, then ``largest``; by fours (1, 4, 16...), eights... instead
    when that would make more than ``most`` sizes."""
    factor = 2
    while True:
        sizes = [1]
        while sizes[-1] * factor < largest:
            sizes.append(sizes[-1] * factor)
        if largest > 1:
            sizes.append(largest)
        if len(sizes) <= most:
            return tuple(sizes)
        factor *= 2


def batch_of(feeds: Mapping[str, np.ndarray]) -> int | None:
    """The first dimension every feed shares, if they share one."""
    firsts = {array.shape[0] if array.ndim else None for array in feeds.values()}
    first = firsts.pop() if len(firsts) == 1 else None
    return first if first else None


class FixedBatches:
    """A session per size in ``sizes``, from ``open_session``; ``run`` pads to the next size."""

    def __init__(self, open_session: Callable[[], Any], sizes: Sequence[int]) -> None:
        self.sizes = tuple(sorted(set(sizes)))
        self._sessions = {size: open_session() for size in self.sizes}

    def size_for(self, rows: int) -> int | None:
        """The size a batch of ``rows`` runs at (None: larger than every size)."""
        return next((size for size in self.sizes if size >= rows), None)

    def run(self, names: Sequence[str], feeds: Mapping[str, np.ndarray], rows: int) -> list[Any]:
        """Run ``rows`` rows (``size_for(rows)`` is not None) padded with zeros to their size."""
        size = self.size_for(rows)
        assert size is not None
        padded = {name: _pad(array, size) for name, array in feeds.items()}
        return [output[:rows] for output in self._sessions[size].run(list(names), padded)]


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    if array.shape[0] == size:
        return array
    padding = np.zeros((size - array.shape[0], *array.shape[1:]), dtype=array.dtype)
    return np.concatenate([array, padding])
