"""Fixtures of the bad-input tests: the plugin tests' inner pytest session, and the Docker fixtures."""

from __future__ import annotations

from tests.docker_backend.conftest import docker_args, docker_client
from tests.plugin.conftest import inner

__all__ = ["docker_args", "docker_client", "inner"]
