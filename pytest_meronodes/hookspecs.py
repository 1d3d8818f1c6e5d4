"""The hooks pytest-meronodes calls, for a conftest.py or plugin to implement."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .cluster import Cluster


@pytest.hookspec
def pytest_meronodes_reset_cluster(cluster: Cluster) -> None:
    """A cluster an earlier session kept for reuse (--reuse-nodes) is about to be handed to this
    session's tests: put it back into the state they expect (the nodes keep their applications,
    namespaces and contexts between sessions). Called once per reused cluster, after it passed
    its checks (alive, health, token, mesh); an exception fails the fixture that asked for it."""
