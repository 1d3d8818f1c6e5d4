"""The callable behind the `node_cluster` fixtures: validates what a test asks for, starts the
cluster through the backend, and stops what it started."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backends.base import Backend
from .cluster import Cluster
from .config import MeronodesConfig
from .errors import MeronodesError
from .redact import SecretText
from .run_context import RunContext
from .spec import make_spec


def access_instructions(cluster: Cluster) -> str:
    """For a kept cluster with auth: each node's token in a 0600 file (never printed), and a
    command that uses it."""
    lines = []
    for node in cluster:
        directory = cluster.directory
        if node.client.credentials is None or directory is None:
            continue
        try:
            token = SecretText(f"{node.client.token}\n")  # hidden from tracebacks' locals
        except MeronodesError:
            continue
        token_file = directory / f"{node.name}.token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        host = node.client.headers.get("Host")
        host_arg = f" -H 'Host: {host}'" if isinstance(host, str) else ""
        lines.append(
            f"  {node.name} token (valid ~1 h): curl -H \"Authorization: Bearer $(cat {token_file})\"{host_arg} "
            f"{node.url}/admin-api/peers"
        )
    return "\n" + "\n".join(lines) if lines else ""


class ClusterFactory:
    def __init__(
        self,
        settings: MeronodesConfig,
        backend: Backend,
        run: RunContext,
        on_start: Callable[[Cluster], None] | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.run = run
        self.on_start = on_start
        self.clusters: list[Cluster] = []

    @classmethod
    def standalone(cls, settings: MeronodesConfig, clusters_dir: Path) -> ClusterFactory:
        """A factory of its own run, outside pytest's fixtures (benchmarks, scripts)."""
        from .backends import create_backend

        clusters_dir.mkdir(parents=True, exist_ok=True)
        run = RunContext.create(clusters_dir)
        return cls(settings, create_backend(settings, run), run)

    def __call__(self, **arguments: Any) -> Cluster:
        spec = make_spec(self.settings, arguments)
        cluster = self.backend.start_cluster(spec, self.run.next_cluster_id())
        self.clusters.append(cluster)
        if self.on_start is not None:
            self.on_start(cluster)
        return cluster

    def close(self, *, keep: Callable[[Cluster], bool]) -> list[str]:
        """Stop every cluster, except those to keep (all, or those a failed test used: the
        plugin decides), which are left running; return how to reach the kept ones."""
        kept = []
        errors: list[BaseException] = []
        for cluster in self.clusters:
            if keep(cluster):
                self.run.registry.keep(cluster.id)  # later sessions' reaping leaves it alone
                kept.append(self.backend.keep_instructions(cluster) + access_instructions(cluster))
                continue
            try:
                cluster.stop()
            except BaseException as error:  # even on Ctrl-C, stop the other clusters first
                errors.append(error)
        self.clusters.clear()
        if errors:
            raise errors[0]
        return kept
