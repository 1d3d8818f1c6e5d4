"""The binary backend: native merod processes on this machine."""

from .backend import BinaryBackend

__all__ = ["BinaryBackend"]
