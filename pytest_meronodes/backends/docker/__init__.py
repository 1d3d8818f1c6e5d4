"""The Docker backend: nodes in containers of the merod image, driven with docker-py."""

from .backend import DockerBackend

__all__ = ["DockerBackend"]
