"""What tests receive: a Cluster of Nodes, each with an authenticated NodeClient."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

from .client import NodeClient
from .errors import NodeError, NodeGoneError
from .process import ANSI, log_tail
from .readiness import wait_for_mesh
from .versions import MerodRelease

if TYPE_CHECKING:
    from .shared_context import SharedContext

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
    stopped_by: str | None = field(default=None, repr=False)  # the test that called stop()

    def __post_init__(self) -> None:
        self.client.liveness = self.gone

    def stop(self) -> None:
        """Stop this node on purpose (a test of how the others cope): it then no longer counts as
        crashed. Its cluster's teardown still cleans up after it."""
        self.stopped = True
        # "tests/test_x.py::test_y (call)": which test did it, for whoever calls the node later
        self.stopped_by = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0] or None
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
        tail = getattr(self.runtime, "log_tail", None)  # a container's, asked for its tail alone
        if callable(tail):
            return ANSI.sub("", str(tail(lines)))
        return "\n".join(self.logs().splitlines()[-lines:])

    def install_dev_application(self, path: str | Path, metadata: list[Any] | None = None) -> str:
        """Install a local application file on the node (copied into its container when it has
        one); return the application id."""
        node_path = self.runtime.upload(Path(path)) if self.runtime is not None else str(path)
        return self.client.install_dev_application(node_path, metadata)

    def exit_code(self) -> int | None:
        """None while the node runs (or when it is not ours to watch)."""
        return self.runtime.exit_code() if self.runtime is not None else None

    def gone(self) -> NodeGoneError | None:
        """Why the node cannot answer, if its process exited or it was stopped on purpose."""
        if self.stopped:
            by = f" by {self.stopped_by}" if self.stopped_by else ""
            return NodeGoneError(self.name, f"this node was stopped on purpose (node.stop(){by}) and no longer answers")
        code = self.exit_code()
        if code is None:
            return None
        oom = getattr(self.runtime, "oom_killed", lambda: False)()
        reason = "node exited (killed: out of memory)" if oom else "node exited"
        return NodeGoneError(self.name, reason, exit_code=code, log_tail=self.log_tail())

    def check_alive(self) -> None:
        """Raise a NodeError (with exit code and log tail) if the node's process has exited,
        unless the node was stopped on purpose."""
        if self.stopped:
            return
        gone = self.gone()
        if gone is not None:
            raise NodeError(gone.node, gone.reason, exit_code=gone.exit_code, log_tail=gone.log_tail)


class Cluster:
    def __init__(
        self,
        cluster_id: str,
        nodes: list[Node],
        stopper: Callable[[], None],
        directory: Path | None = None,
        release: MerodRelease | None = None,
    ) -> None:
        self.id = cluster_id
        self.nodes = nodes
        self.directory = directory  # where the cluster's files live on this machine, if anywhere
        # the merod the nodes run, for flows that depend on its release
        self.release = release or MerodRelease.unknown("merod version not known")
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

    def node(self, node: Node | str) -> Node:
        """A node of this cluster, by name or as itself."""
        if isinstance(node, Node):
            if node.cluster is not self:
                raise KeyError(f"{node.name} is not a node of cluster {self.id} ({', '.join(self.names)})")
            return node
        return self[node]

    def shared_context(
        self,
        application: str | Path,
        *,
        nodes: Sequence[Node | str] | None = None,
        initialization_params: bytes | Mapping[str, Any] | None = None,
        timeout: float = 60.0,
    ) -> SharedContext:
        """A context of `application` (a .wasm file of yours) that every node (or those named) has
        joined, with the application installed on each: the first node creates the namespace and
        the context, every other one joins through an invitation."""
        from .errors import ConfigurationError
        from .shared_context import share_context

        if isinstance(nodes, (str, Node)):  # one node, not a list: iterating a name gives letters
            raise ConfigurationError(f"shared_context: nodes must be a list of nodes or names, got {nodes!r}")
        members = [self.node(node) for node in (nodes if nodes is not None else self.nodes)]
        return share_context(self, Path(application), members, initialization_params=initialization_params,
                             timeout=timeout)

    def wait_for_context_sync(self, context_id: str, timeout: float = 30.0) -> str:
        """Wait until every node has synced the context and they agree on its state; return the
        state hash. A node that has not joined yet is waited for; on timeout the error names each
        node's state."""
        from .shared_context import wait_for_sync

        return wait_for_sync(self.nodes, context_id, timeout=timeout)

    def check_alive(self) -> None:
        """Raise a NodeError for the first node of the cluster that has exited."""
        for node in self.nodes:
            node.check_alive()

    def stop(self) -> None:
        """Stop every node and remove what the cluster created; safe to call twice."""
        if not self.stopped:
            self.stopped = True
            self._stopper()
