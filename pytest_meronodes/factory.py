"""The callable behind the `node_cluster` fixtures: validates what a test asks for, starts the
cluster through the backend, and stops what it started."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .backends.base import Backend
from .cluster import AUTH_MODES, Cluster, ClusterSpec
from .config import MeronodesConfig
from .errors import ConfigurationError, MeronodesError
from .ownership import current_owner
from .runs import current_run

ARGUMENTS = ("count", "auth", "config", "config_path", "log_level", "names")
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def next_cluster_id() -> str:
    with _counter_lock:
        number = next(_counter)
    return f"{current_owner().run_id}-c{number}"


def make_spec(settings: MeronodesConfig, arguments: Mapping[str, Any]) -> ClusterSpec:
    unknown = sorted(set(arguments) - set(ARGUMENTS))
    if unknown:
        raise ConfigurationError(
            f"unknown argument(s) {', '.join(unknown)}; node_cluster and the nodes marker take "
            f"{', '.join(ARGUMENTS)}"
        )
    count = arguments.get("count", settings.count)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigurationError(f"count must be a positive integer, got {count!r}")
    auth = arguments.get("auth")
    if auth not in AUTH_MODES:
        raise ConfigurationError(f"unknown auth mode {auth!r}; use None, 'embedded' or 'proxy'")
    overrides = arguments.get("config") or {}
    if not isinstance(overrides, Mapping) or not all(isinstance(k, str) for k in overrides):
        raise ConfigurationError("config must be a dict of dotted keys, e.g. {'sync.interval_ms': 200}")
    names = tuple(arguments.get("names") or (f"node{i + 1}" for i in range(count)))
    if len(names) != count or len(set(names)) != count or not all(_valid_name(n) for n in names):
        raise ConfigurationError(
            f"names must be {count} distinct names of letters, digits, '-' and '_', got {list(names)!r}"
        )
    return ClusterSpec(
        count=count,
        auth=auth,
        config=dict(overrides),
        config_path=_config_paths(arguments.get("config_path"), names),
        log_level=str(arguments.get("log_level") or settings.log_level),
        names=names,
    )


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(name) and all(c.isalnum() or c in "-_" for c in name)


def _config_paths(value: Any, names: Sequence[str]) -> tuple[Path | None, ...]:
    """One shared file, a list with one file per node, or a dict of node name to file."""
    if value is None:
        return ()
    if isinstance(value, (str, Path)):
        return tuple(Path(value) for _ in names)
    if isinstance(value, Mapping):
        unknown = set(value) - set(names)
        if unknown:
            raise ConfigurationError(f"config_path names unknown node(s): {', '.join(sorted(unknown))}")
        return tuple(Path(value[n]) if n in value else None for n in names)
    if isinstance(value, Sequence) and len(value) == len(names):
        return tuple(Path(v) if v is not None else None for v in value)
    raise ConfigurationError("config_path must be a path, a list of one path per node, or {name: path}")


def access_instructions(cluster: Cluster) -> str:
    """For a kept cluster with auth: each node's token in a 0600 file (never printed), and a
    command that uses it."""
    lines = []
    for node in cluster:
        directory = cluster.directory
        if node.client.credentials is None or directory is None:
            continue
        try:
            token = node.client.token
        except MeronodesError:
            continue
        token_file = directory / f"{node.name}.token"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{token}\n")
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
