"""The Docker fixtures, for the Docker variant of the crash tests."""

from tests.docker_backend.conftest import docker_args, docker_client

__all__ = ["docker_args", "docker_client"]
