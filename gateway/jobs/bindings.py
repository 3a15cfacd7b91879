"""Where a service's job inputs come from and where its results go (its storage bindings).

A service without an ``input`` binding takes API uploads under ``<service>/in`` of the default
storage (not watched); one without an ``output`` binding writes results under ``<service>/out``.
An output binding's ``suffix``/``prefix`` lists filter which file names it receives (OSCAR).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.services import ServiceSpec, StorageIO
from gateway.storage import base_name
from runtimes.contract import name_accepted


def input_binding(spec: ServiceSpec) -> StorageIO:
    """Where `POST /job/{service}` uploads go: the first input binding, or ``<name>/in``."""
    return spec.input[0] if spec.input else StorageIO(path=f"{spec.name}/in")


def output_bindings(spec: ServiceSpec) -> tuple[StorageIO, ...]:
    return spec.output or (StorageIO(path=f"{spec.name}/out"),)


def prefix_of(binding: StorageIO) -> str:
    """The key prefix a binding covers (``imagenet/in`` -> ``imagenet/in/``)."""
    return binding.path.strip("/") + "/"


def accepts(binding: StorageIO, name: str) -> bool:
    """True when a file name passes the binding's suffix and prefix filters."""
    return name_accepted(name, binding.suffix, binding.prefix)


def covers(binding: StorageIO, key: str) -> bool:
    """True when an object key lies under the binding's path and passes its filters."""
    return key.startswith(prefix_of(binding)) and accepts(binding, base_name(key))


def consumers(
    specs: Iterable[ServiceSpec], storage: str | None, key: str
) -> list[tuple[ServiceSpec, StorageIO]]:
    """The services with an input binding covering `key` (in `storage`; None: any storage)."""
    found = []
    for spec in specs:
        for binding in spec.input:
            if (storage is None or binding.storage == storage) and covers(binding, key):
                found.append((spec, binding))
                break
    return found
