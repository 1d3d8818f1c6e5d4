"""The backends, by name (registry.py: the one list to extend for a new backend). Each is a small class
behind the interfaces of base.py; a backend that starts nodes (a NodeLauncher) goes through
the one start path (start.py). Modules are imported only when their backend is used."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from ..config import MeronodesConfig
    from ..run_context import RunContext
    from .base import Backend, EngineResources

from .registry import BACKENDS


def backend_class(name: str) -> Any:
    if name not in BACKENDS:
        raise ConfigurationError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module, _, attribute = BACKENDS[name].partition(":")
    return getattr(import_module(module), attribute)


def create_backend(config: MeronodesConfig, run: RunContext) -> Backend:
    """The session's backend; one that starts nodes is wrapped in the one start path."""
    from ..start import ClusterStart

    backend = backend_class(config.backend)(config, run)
    if hasattr(backend, "host"):  # a NodeLauncher
        return ClusterStart(backend, config, run)
    return backend  # type: ignore[no-any-return]


def header(config: MeronodesConfig) -> str:
    """The pytest header's line: the backend, and what it runs (the simulator says so)."""
    return f"meronodes: backend={config.backend}, {backend_class(config.backend).header(config)}"


def engine_resources() -> list[EngineResources]:
    """What every backend with resources outside the run records (a Docker engine's) can reach
    now; a backend whose engine does not answer has nothing of ours to show or remove."""
    found = []
    for name in BACKENDS:
        find = getattr(backend_class(name), "engine_resources", None)
        resources = find() if find is not None else None
        if resources is not None:
            found.append(resources)
    return found
