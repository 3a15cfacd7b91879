"""``python -m runtimes.batch``: run one gateway job in a Kubernetes Job's pod (``JOB_*`` env)."""

from __future__ import annotations

import asyncio
import logging
import sys
import warnings

from PIL import Image
from pydantic import ValidationError

from runtimes.batch.config import BatchSettings
from runtimes.batch.runner import run_job
from runtimes.batch.storage import Bucket
from runtimes.prctl import become_subreaper, forbid_inspection


def main() -> int:
    """0: every item has its record; 1: the store failed (the Job retries); 2: bad settings."""
    forbid_inspection()  # the storage keys in this environment stay out of a script's reach
    become_subreaper()  # a script's orphans come back here to be killed and reaped
    try:
        settings = BatchSettings()  # required fields come from the environment
    except ValidationError as exc:
        print(f"invalid JOB_* settings:\n{exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels refuses them
    log = logging.getLogger("runtimes.batch")
    bucket = Bucket(settings.s3_endpoint, settings.s3_region)
    try:
        count = asyncio.run(run_job(settings.manifest, bucket))
    except Exception:
        log.exception("job %s: the batch run failed", settings.id)
        return 1
    finally:
        bucket.close()
    log.info("job %s: %d item(s) processed", settings.id, count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
