"""The peer model servers of ``make bench-peers`` (issue 15), measured in one run beside ours.

Each peer is a folder ``benchmarks/peers/<key>/``:

- ``requirements.txt``: the peer's pinned packages, installed into its own virtualenv
  ``.venv-peers/<key>`` (never into ours: their pins clash with each other and with ours);
- ``server.py``: the serving code a user of that peer would write for this model, run as
  ``.venv-peers/<key>/bin/python benchmarks/peers/<key>/server.py --port P --model M --labels L``
  plus the setting's own arguments, with the repository root on ``PYTHONPATH`` so that it can use
  ``benchmarks.peers.serving`` (the same image pre-processing for every server);
- ``peer.py``: ``PEER``, a ``benchmarks.peers.catalog.Peer``: its settings, its request and what
  every good answer contains.

``benchmarks.peers.catalog`` lists them; ``python -m benchmarks.peers`` builds and measures them.
"""
