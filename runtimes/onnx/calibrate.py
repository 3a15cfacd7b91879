"""best_batch_size: the largest batch that costs no more per image than the cheapest one.

On a CPU a batch is not always cheaper per image than one image alone: for EfficientNet-Lite0 on
one ONNX Runtime thread, a batch of 16 took 5.8-6.0 ms an image against 4.6-4.8 ms alone (its
activations no longer fit the caches), so at 64 clients batches of up to 16 served 7 % fewer
images/s than batches of up to 4. A tiny model is the other way round: a call's fixed cost
dominates and every larger batch is cheaper per image. So the runtime measures, once the model
serves, the time per image at each fixed size up to ``max_batch_size`` (``fixed.batch_sizes``)
and batches no larger than the largest size within ``tolerance`` of the cheapest. A size already
``GIVE_UP`` dearer an image than the cheapest so far ends the search: the larger ones would only
spill more of the caches, and their runs would grow the session's memory for nothing
(EfficientNet-Lite0 on one thread: 136 MiB after a batch of 4, 262 MiB after one of 16).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from runtimes.onnx.fixed import batch_sizes

#: a size within this fraction of the cheapest per-image time still counts as cheapest
TOLERANCE = 0.05
#: a size this fraction dearer an image than the cheapest: no larger size is tried
GIVE_UP = 0.10


def best_batch_size(
    run: Callable[[int], object],
    largest: int,
    *,
    tolerance: float = TOLERANCE,
    give_up: float = GIVE_UP,
    budget: float = 0.02,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[int, dict[int, float]]:
    """The batch size to use, and the seconds per image measured at each size.

    ``run(size)`` runs one batch of ``size`` (blocking). Each size runs once to warm up, then at
    least 3 times and until ``budget`` seconds are spent; its time is the fastest run's. Sizes go
    up until one costs ``give_up`` more an image than the cheapest (see the module)."""
    per_image: dict[int, float] = {}
    for size in batch_sizes(largest):
        if per_image and per_image[max(per_image)] > min(per_image.values()) * (1 + give_up):
            break
        run(size)
        fastest, spent, runs = math.inf, 0.0, 0
        while runs < 3 or (spent < budget and runs < 100):
            started = clock()
            run(size)
            took = clock() - started
            fastest, spent, runs = min(fastest, took), spent + took, runs + 1
        per_image[size] = fastest / size
    cheapest = min(per_image.values())
    best = max(size for size, cost in per_image.items() if cost <= cheapest * (1 + tolerance))
    return best, per_image
