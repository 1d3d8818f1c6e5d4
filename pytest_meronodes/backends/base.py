from __future__ import annotations

from typing import Protocol

from ..cluster import Cluster
from ..spec import ClusterSpec


class Backend(Protocol):
    """Starts clusters, and says how to reach one that is kept."""

    name: str

    def start_cluster(self, spec: ClusterSpec, cluster_id: str) -> Cluster:
        """A ready cluster, or an error after everything half-started was removed."""
        ...

    def keep_instructions(self, cluster: Cluster) -> str:
        """How to reach a cluster left running, and how to remove it."""
        ...
