"""What tests receive: a Cluster of Nodes, each with an authenticated NodeClient."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, overload

from .client import NodeClient
from .errors import NodeError
from .process import ANSI, log_tail
from .readiness import poll_interval, wait_for_mesh

AUTH_MODES = (None, "embedded", "proxy")


@dataclass(frozen=True)
class ClusterSpec:
    """What a test asked for, validated."""

    count: int
    auth: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    config_path: tuple[Path | None, ...] = ()  # one per node (a shared file is repeated)
    log_level: str = "info"
    names: tuple[str, ...] = ()


class NodeRuntime(Protocol):
    """What a backend keeps of a running node: liveness and logs."""

    def exit_code(self) -> int | None: ...

    def logs(self) -> str: ...

    def upload(self, local_path: Path) -> str:
        """Make a local file readable by the node; return its path there."""
        ...

    def stop(self) -> None:
        """Stop the node now (SIGTERM, grace, SIGKILL)."""
        ...


@dataclass
class Node:
    name: str
    url: str
    rpc_port: int | None
    swarm_port: int | None
    peer_id: str | None
    multiaddr: str | None
    home: Path | None
    log_path: Path | None
    client: NodeClient
    runtime: NodeRuntime | None = field(default=None, repr=False)
    cluster: Cluster | None = field(default=None, repr=False, compare=False)
    stopped: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.client.liveness = self.check_alive

    def stop(self) -> None:
        """Stop this node on purpose (a test of how the others cope): it then no longer counts as
        crashed. Its cluster's teardown still cleans up after it."""
        self.stopped = True
        if self.runtime is not None:
            self.runtime.stop()

    def logs(self) -> str:
        """Everything the node printed so far, without ANSI colours."""
        if self.runtime is not None:
            return ANSI.sub("", self.runtime.logs())
        return ""

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is not None and self.log_path.is_file():
            return log_tail(self.log_path, lines)
        return "\n".join(self.logs().splitlines()[-lines:])

    def install_dev_application(self, path: str | Path, metadata: list[Any] | None = None) -> str:
        """Install a local application file on the node (copied into its container when it has
        one); return the application id."""
        node_path = self.runtime.upload(Path(path)) if self.runtime is not None else str(path)
        return self.client.install_dev_application(node_path, metadata)

    def exit_code(self) -> int | None:
        """None while the node runs (or when it is not ours to watch)."""
        return self.runtime.exit_code() if self.runtime is not None else None

    def check_alive(self) -> None:
        """Raise a NodeError (with exit code and log tail) if the node's process has exited,
        unless the node was stopped on purpose."""
        if self.stopped:
            return
        code = self.exit_code()
        if code is not None:
            oom = getattr(self.runtime, "oom_killed", lambda: False)()
            reason = "node exited (killed: out of memory)" if oom else "node exited"
            raise NodeError(self.name, reason, exit_code=code, log_tail=self.log_tail())


class Cluster:
    def __init__(
        self, cluster_id: str, nodes: list[Node], stopper: Callable[[], None], directory: Path | None = None
    ) -> None:
        self.id = cluster_id
        self.nodes = nodes
        self.directory = directory  # where the cluster's files live on this machine, if anywhere
        self._stopper = stopper
        self.stopped = False
        self.used_by_failed_test = False  # for --keep-nodes-on-failure
        for node in nodes:
            node.cluster = self

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @overload
    def __getitem__(self, key: int | str) -> Node: ...
    @overload
    def __getitem__(self, key: slice) -> list[Node]: ...
    def __getitem__(self, key: int | str | slice) -> Node | list[Node]:
        if isinstance(key, str):
            for node in self.nodes:
                if node.name == key:
                    return node
            raise KeyError(f"no node named {key!r} in cluster {self.id} ({', '.join(self.names)})")
        return self.nodes[key]

    def __repr__(self) -> str:
        return f"Cluster({self.id!r}, {self.names})"

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    def wait_for_mesh(self, timeout: float = 30.0, min_peers: int | None = None) -> None:
        """Wait until every node sees at least `min_peers` (default: all others) peers."""
        wait_for_mesh(self.nodes, timeout=timeout, min_peers=min_peers)

    def wait_for_context_sync(self, context_id: str, timeout: float = 30.0) -> str:
        """Wait until every node reports the same state hash for the context; return it."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            hashes = {node.name: node.client.context_state_hash(context_id) for node in self.nodes}
            if len(set(hashes.values())) == 1 and None not in hashes.values():
                return str(next(iter(hashes.values())))
            if time.monotonic() > deadline:
                raise TimeoutError(f"context {context_id} did not converge within {timeout:g} s: {hashes}")
            for node in self.nodes:
                node.check_alive()
            time.sleep(poll_interval(attempt))
            attempt += 1

    def check_alive(self) -> None:
        """Raise a NodeError for the first node of the cluster that has exited."""
        for node in self.nodes:
            node.check_alive()

    def stop(self) -> None:
        """Stop every node and remove what the cluster created; safe to call twice."""
        if not self.stopped:
            self.stopped = True
            self._stopper()
