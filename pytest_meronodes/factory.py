"""The callable behind the `node_cluster` fixtures: validates what a test asks for, starts the
cluster through the backend, and stops what it started."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable
from typing import Any

from .backends.base import Backend
from .cluster import Cluster
from .config import MeronodesConfig
from .errors import MeronodesError
from .ownership import current_owner
from .redact import SecretText
from .runs import current_run
from .spec import make_spec

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def next_cluster_id() -> str:
    with _counter_lock:
        number = next(_counter)
    return f"{current_owner().run_id}-c{number}"


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
        on_start: Callable[[Cluster], None] | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.on_start = on_start
        self.clusters: list[Cluster] = []

    def __call__(self, **arguments: Any) -> Cluster:
        spec = make_spec(self.settings, arguments)
        cluster = self.backend.start_cluster(spec, next_cluster_id())
        self.clusters.append(cluster)
        if self.on_start is not None:
            self.on_start(cluster)
        return cluster

    def close(self, *, keep_all: bool, keep_failed: bool) -> list[str]:
        """Stop every cluster, except those to keep (all, or those a failed test used), which are
        left running; return how to reach the kept ones."""
        kept = []
        errors: list[BaseException] = []
        for cluster in self.clusters:
            if keep_all or (keep_failed and cluster.used_by_failed_test):
                current_run().keep(cluster.id)  # later sessions' reaping leaves it alone
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
