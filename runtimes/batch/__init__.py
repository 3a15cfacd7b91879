"""The batch runner of a Kubernetes Job: one gateway job, every file of it, in one pod.

The gateway runs a job of a Kubernetes-backed service as one ``batch/v1`` Job whose pod runs this
package (``python -m runtimes.batch``) in the service's own image. The pod gets its work from the
object store, not from the gateway (which it may not be able to reach):

- ``JOB_MANIFEST`` names a JSON object the gateway wrote before creating the Job: the service,
  its runtime (``onnx`` or ``script``), the items (``index``, input ``key``), the output
  bindings (``path``, ``suffix``, ``prefix``) and ``records``, the prefix of the status records.
- For each item it downloads the input, runs the model in-process (the ONNX runtime's own
  model, pre- and post-processing code, so the results are the bytes ``/predict`` gives) or the
  service's script (the script runtime's runner), and writes the results under the same keys the
  gateway's HTTP path uses (``photo.png`` -> ``<output path>/photo.json``).
- Then it writes the item's status record, ``<records>/<index>.json``: ``{"index", "key",
  "state": "succeeded"|"failed", "outputs": [{"key", "etag", "size"}], "error", "log"}``. An item
  that already has a record is skipped, so a pod that the Job controller starts again (after a
  crash, an eviction) picks up where the last one stopped.

Exit status 0 means every item has a record, succeeded or failed (a bad image, a failing script
and a model that does not load are the items' errors, not the pod's); anything else (the object
store unreachable, the manifest missing) exits 1, for the Job's ``backoffLimit`` to retry.
Credentials come from the standard ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` variables (a
Secret's keys through ``envFrom``); this package never imports the gateway. The manifest, the
status record, the result document and the key rules are `runtimes.contract`'s, which the gateway
imports too.
"""
