"""Shared fixtures of the example suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def kv_app() -> Path:
    """The key-value application to install. Against a real merod, point MERONODES_EXAMPLE_APP at
    the kv-store .wasm built from calimero-network/core (apps/kv-store); the simulator runs its
    built-in equivalent of that app whatever file it is given."""
    return Path(os.environ.get("MERONODES_EXAMPLE_APP", Path(__file__).parent / "apps" / "kv_store.wasm")).resolve()


@pytest.fixture(scope="session")
def auth_mode() -> str:
    """`embedded` (merod's own auth) by default; `proxy` puts Traefik and the auth service in front.
    Set MERONODES_EXAMPLE_AUTH to choose."""
    return os.environ.get("MERONODES_EXAMPLE_AUTH", "embedded")
