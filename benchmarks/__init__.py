"""Benchmarks: locustfiles and the side-by-side runner (``python -m benchmarks``).

Nothing in ``gateway/`` or ``runtimes/`` imports this package; it only drives them from outside,
as separate processes, the way users meet them.
"""
