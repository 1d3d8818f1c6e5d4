"""Shared fixtures of the example suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meronodes.cluster import Cluster


@pytest.fixture(scope="session")
def kv_app() -> Path:
    """The key-value application to install. Against a real merod, point MERONODES_EXAMPLE_APP at
    the kv-store .wasm from calimero-network/core; the simulator runs its built-in equivalent."""
    return Path(os.environ.get("MERONODES_EXAMPLE_APP", Path(__file__).parent / "apps" / "kv_store.wasm")).resolve()


@pytest.fixture(scope="session")
def auth_mode() -> str:
    """`embedded` (merod's own auth) by default; `proxy` puts Traefik and the auth service in front
    (Docker backend). Set MERONODES_EXAMPLE_AUTH to choose."""
    return os.environ.get("MERONODES_EXAMPLE_AUTH", "embedded")


@pytest.fixture
def share_context(kv_app: Path) -> Callable[[Cluster], str]:
    """Install the app on every node, create a context on the first and join it from the others."""

    def share(cluster: Cluster) -> str:
        application_id = ""
        for node in cluster:
            application_id = node.install_dev_application(kv_app)
        context_id = str(cluster[0].client.create_context(application_id)["contextId"])
        for node in cluster[1:]:
            node.client.join_context(context_id)
        return context_id

    return share
