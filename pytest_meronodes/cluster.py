"""What tests receive: a Cluster of Nodes, each with an authenticated NodeClient."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

from .control import ClusterControl
from .errors import FaultUnavailableError
from .gates import wait_for_mesh
from .node import Node
from .shared_context import SharedContext, share_context, wait_for_sync
from .versions import MerodRelease


class Cluster:
    def __init__(
        self,
        cluster_id: str,
        nodes: list[Node],
        stopper: Callable[[], None],
        directory: Path | None = None,
        release: MerodRelease | None = None,
        topology: str = "full",
        wiring: Mapping[str, Sequence[str]] | None = None,
        refuse_stop: str = "",
    ) -> None:
        self.id = cluster_id
        self.nodes = nodes
        # how the nodes are wired (topology.py): whom each bootstraps from, what the mesh gate waits for
        self.topology = topology
        self.wiring: dict[str, tuple[str, ...]] = (
            {name: tuple(peers) for name, peers in wiring.items()} if wiring is not None
            else {node.name: tuple(other.name for other in nodes if other is not node) for node in nodes}
        )
        self.directory = directory  # where the cluster's files live on this machine, if anywhere
        # the merod the nodes run, for flows that depend on its release
        self.release = release or MerodRelease.unknown("merod version not known")
        self._stopper = stopper
        self.refuse_stop = refuse_stop  # why stop() may not stop it: a view of a cluster others use too
        self.stopped = False

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

    def wired_peers(self, node: Node | str) -> list[Node]:
        """The nodes this node was wired to (its bootstrap peers)."""
        return [self[name] for name in self.wiring[self.node(node).name]]

    def wait_for_mesh(self, timeout: float = 30.0, min_peers: int | None = None) -> None:
        """Wait until every node sees at least `min_peers` peers (default: as many as it is wired to)."""
        wanted = None if min_peers is not None else {name: len(peers) for name, peers in self.wiring.items()}
        wait_for_mesh(self.nodes, deadline=time.monotonic() + timeout, min_peers=min_peers, wanted=wanted,
                      topology=self.topology)

    def node(self, node: Node | str) -> Node:
        """A node of this cluster, by name or as itself."""
        if isinstance(node, Node):
            if not any(node is member for member in self.nodes):
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

        if isinstance(nodes, (str, Node)):  # one node, not a list: iterating a name gives letters
            raise ConfigurationError(f"shared_context: nodes must be a list of nodes or names, got {nodes!r}")
        members = [self.node(node) for node in (nodes if nodes is not None else self.nodes)]
        return share_context(self, Path(application), members, initialization_params=initialization_params,
                             timeout=timeout)

    def wait_for_context_sync(self, context_id: str, timeout: float = 30.0) -> str:
        """Wait until every node has synced the context and they agree on its state; return the
        state hash. A node that has not joined yet is waited for; on timeout the error names each
        node's state."""
        return wait_for_sync(self.nodes, context_id, timeout=timeout)

    def partition(self, *sides: Sequence[Node | str]) -> None:
        """Split the swarm: nodes on different sides cannot reach each other (a node named on no
        side is a side of its own); each side still works. Docker backend. heal() undoes it."""
        control = self._control()
        control.partition([[self.node(node) for node in side] for side in sides])

    def heal(self) -> None:
        """Undo every partition and disconnect; returns once every running node sees its running wired peers."""
        self._control().heal()

    def _control(self) -> ClusterControl:
        control = self.nodes[0].control if self.nodes else None
        if control is None:
            why = self.nodes[0].uncontrolled if self.nodes else "it has no nodes"
            raise FaultUnavailableError(f"cluster {self.id} cannot be partitioned or healed: {why}")
        return control

    def check_alive(self) -> None:
        """Raise a NodeError for the first node of the cluster that has exited."""
        for node in self.nodes:
            node.check_alive()

    def stop(self) -> None:
        """Stop every node and remove what the cluster created; safe to call twice."""
        if self.refuse_stop:
            raise FaultUnavailableError(f"cluster {self.id} cannot be stopped here: {self.refuse_stop}")
        if not self.stopped:
            self.stopped = True
            self._stopper()
