"""Backends start and stop clusters; each is a small class behind the Backend interface."""

from __future__ import annotations

from pathlib import Path

from ..config import MeronodesConfig
from ..errors import ConfigurationError
from .base import Backend


def create_backend(config: MeronodesConfig, base_dir: Path) -> Backend:
    if config.backend == "binary":
        from .binary import BinaryBackend

        return BinaryBackend(config, base_dir)
    if config.backend == "docker":
        from .docker import DockerBackend

        return DockerBackend(config, base_dir)
    if config.backend == "remote":
        from .remote import RemoteBackend

        return RemoteBackend(config)
    raise ConfigurationError(f"unknown backend {config.backend!r}")
