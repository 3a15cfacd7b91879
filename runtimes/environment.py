"""The environment allowlist: which variables a runtime process and a user's script may see.

Defined once, for both sides: the gateway starts runtime processes with `runtime_environment`
and the script runtime starts each script with `script_environment`. Nothing is inherited by
default: a runtime gets a few harmless variables of its parent (`INHERITED`, `RUNTIME_INHERITED`),
its service's own declared environment and its ``RUNTIME_*`` configuration; a script gets
`INHERITED` (with ``HOME`` and ``TMPDIR`` in its own folder), its service's declared environment
and the OSCAR variables (`OSCAR_VARIABLES`), never
a ``RUNTIME_*`` or ``GATEWAY_*`` variable, another service's variables or storage credentials.
"""

from __future__ import annotations

from collections.abc import Mapping

from runtimes.auth import TOKEN_ENV

INHERITED = ("PATH", "HOME", "LANG", "TZ")
"""What a runtime and a script take from their parent's environment (when it is set there)."""

RUNTIME_INHERITED = (
    "PYTHONPATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "LD_LIBRARY_PATH",
    "CUDA_VISIBLE_DEVICES",
)
"""What a runtime process (our code, not the user's) also takes: where Python and CUDA look."""

OSCAR_VARIABLES = ("INPUT_FILE_PATH", "TMP_INPUT_DIR", "TMP_OUTPUT_DIR", "STORAGE_OBJECT_KEY")
"""What a script is told about its input and output, as OSCAR's supervisor tells it."""

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def _pick(source: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    return {name: source[name] for name in names if name in source}


def declared_environment(
    parent: Mapping[str, str], variables: Mapping[str, str], secret_names: tuple[str, ...]
) -> dict[str, str]:
    """What a service declares for its script: its `variables`, and its secrets, which reach the
    runtime in its own environment (a local process's, or a pod's from a Kubernetes Secret) and
    are named, never valued, in its configuration. A secret named like the runtime's own token
    (``RUNTIME_TOKEN``) is never taken from `parent`: that one is the runtime's."""
    return {**variables, **_pick(parent, tuple(n for n in secret_names if n != TOKEN_ENV))}


def runtime_environment(
    parent: Mapping[str, str], declared: Mapping[str, str], config: Mapping[str, str]
) -> dict[str, str]:
    """A runtime process's environment: a few of `parent`'s, the service's `declared`
    environment, then its ``RUNTIME_*`` `config` (which wins)."""
    inherited = _pick(parent, INHERITED + RUNTIME_INHERITED)
    inherited.setdefault("PATH", DEFAULT_PATH)
    return {**inherited, **declared, **config}


def script_environment(
    parent: Mapping[str, str], declared: Mapping[str, str], oscar: Mapping[str, str], *, home: str
) -> dict[str, str]:
    """A script's environment: `INHERITED` from `parent`, ``HOME`` and ``TMPDIR`` in its own
    folder `home`, the service's `declared` environment, then the OSCAR variables (`oscar`,
    which win; a name outside `OSCAR_VARIABLES` is refused)."""
    unknown = set(oscar) - set(OSCAR_VARIABLES)
    if unknown:
        raise ValueError(f"not an OSCAR variable: {', '.join(sorted(unknown))}")
    inherited = _pick(parent, INHERITED)
    inherited.setdefault("PATH", DEFAULT_PATH)
    return {**inherited, "HOME": home, "TMPDIR": home, **declared, **oscar}
