"""What the gateway process does at start to keep its secrets to itself.

- `scrub_secrets`: once `Settings` has read them, the secret ``GATEWAY_*`` variables (every
  `SecretStr` setting: the admin token, the events token...) leave ``os.environ``, so no child
  process inherits them (children get the allowlist of `runtimes.environment` anyway).
- `harden`: that, plus a non-dumpable process (a process of the same user may not read its
  ``/proc/<pid>/environ`` or memory), a data folder only this user may enter (mode 0700: the
  services database holds every service's environment), and one loud WARNING where the local
  backend cannot box scripts (the gateway is not root: scripts run as this same user).
"""

from __future__ import annotations

import logging
import os
from collections.abc import MutableMapping

from pydantic import SecretStr

from gateway.config import Settings
from runtimes.prctl import forbid_inspection

log = logging.getLogger("gateway")


def scrub_secrets(settings: Settings, environ: MutableMapping[str, str]) -> list[str]:
    """Remove the variables of `settings`' secret fields from `environ`; their names."""
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    secret = {
        (prefix + name).upper()
        for name in type(settings).model_fields
        if isinstance(getattr(settings, name), SecretStr)
    }
    removed = [key for key in list(environ) if key.upper() in secret]
    for key in removed:
        del environ[key]
    return removed


def harden(settings: Settings) -> None:
    """Everything above, for the gateway process about to serve `settings`."""
    scrub_secrets(settings, os.environ)
    forbid_inspection()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        settings.data_dir.chmod(0o700)
    except OSError as exc:
        log.warning("could not make %s private (mode 0700): %s", settings.data_dir, exc)
    if "local" in settings.backends and os.geteuid() != 0:
        log.warning(
            "script services are NOT boxed: the gateway runs as uid %d, not root, so the local "
            "backend runs each user's script as this same user: a script can read what this "
            "user can read (FDL files, %s). Run the gateway as root (each run gets a user of "
            "its own) or script services on Kubernetes; see SECURITY.md.",
            os.geteuid(),
            settings.data_dir,
        )
