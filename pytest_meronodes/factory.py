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
from .reuse import ReuseStore
from .run_context import RunContext
from .spec import ClusterSpec, make_spec


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
        reuse: ReuseStore | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.run = run
        self.on_start = on_start
        self.reuse = reuse  # --reuse-nodes: session clusters are kept, and taken from earlier sessions
        self.clusters: list[Cluster] = []
        self.reused: list[Cluster] = []  # views of clusters kept for reuse: never stopped here

    @classmethod
    def standalone(cls, settings: MeronodesConfig, clusters_dir: Path) -> ClusterFactory:
        """A factory of its own run, outside pytest's fixtures (benchmarks, scripts)."""
        from .backends import create_backend

        clusters_dir.mkdir(parents=True, exist_ok=True)
        run = RunContext.create(clusters_dir)
        return cls(settings, create_backend(settings, run), run)

    def __call__(self, **arguments: Any) -> Cluster:
        spec = make_spec(self.settings, arguments)
        if self.reuse is not None:
            cluster = self._reusable(spec, self.reuse)
            self.reused.append(cluster)
        else:
            cluster = self.backend.start_cluster(spec, self.run.next_cluster_id())
            self.clusters.append(cluster)
        if self.on_start is not None:
            self.on_start(cluster)
        return cluster

    def _reusable(self, spec: ClusterSpec, reuse: ReuseStore) -> Cluster:
        """A cluster an earlier session kept with the same key, or a new one that outlives this session."""
        key = reuse.key(spec)
        found = reuse.take(key) if key is not None else None
        if found is not None:
            return found
        started = self.backend.start_cluster(spec, self.run.next_cluster_id(), outlive_session=True)
        try:
            return reuse.adopt(started, spec, self.run.registry.mark_reusable)
        except BaseException:
            started.stop()
            raise

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
        for cluster in self.reused:
            kept.append(f"cluster {cluster.id} ({len(cluster)} node(s)) left running for reuse (--reuse-nodes): the "
                        f"next session asking for the same cluster takes it; remove with: python -m pytest_meronodes "
                        f"reap --cluster {cluster.id}")
        self.reused.clear()
        if self.reuse is not None:
            self.reuse.release()
        if errors:
            raise errors[0]
        return kept
