"""WidthPolicy: whether the next model run gets every core (wide) or one core (narrow).

One request at a time is fastest on all cores: one run with as many intra-op threads as cores.
Several at once are fastest side by side, one core each (or batched): the threads of a wide run
spend part of their time waiting for each other, which one-thread runs never do. The batcher asks
this policy before each run.

Load that hovers between the two must not flip the runtime back and forth: at a few clients, a
request now and then finds nothing else waiting for an instant, and a wide run then holds every
core while the next requests queue behind it (the step down at 4 clients). So a run goes wide only
when it is alone (no other run going, nothing waiting) *and* the ``calm_runs`` runs before it were
alone too; a run that sees any other work makes the next ``calm_runs`` lone runs narrow. The
runtime starts calm: the first lone request of a fresh process runs wide.
"""

from __future__ import annotations

from typing import Protocol


class RunPolicy(Protocol):
    """Decides, per run, between one run on all cores and one run per core."""

    def wide(self, *, busy: int, waiting: int) -> bool:
        """Whether the run about to start gets every core.

        ``busy``: runs going on now (besides this one); ``waiting``: requests still queued once
        this run has taken its batch.
        """


class WidthPolicy:
    """Wide when the runtime has been alone for ``calm_runs`` runs, else narrow (see module)."""

    def __init__(self, slots: int, *, calm_runs: int = 4) -> None:
        self.slots = max(1, slots)
        self.calm_runs = max(0, calm_runs)
        self._lone = self.calm_runs  # lone runs in a row; a fresh runtime counts as calm

    @property
    def calm(self) -> bool:
        """Whether the next lone run would be wide."""
        return self._lone >= self.calm_runs

    def wide(self, *, busy: int, waiting: int) -> bool:
        if self.slots == 1:
            return True  # one slot: every run has all the cores there are
        if busy or waiting:
            self._lone = 0
            return False
        wide = self.calm
        self._lone += 1
        return wide
