"""A node's place in the swarm (NodeSlot), and the faults a backend can make in the network
between the nodes (NetworkFaults). Imports nothing of the plugin's but its errors, so that
node control (control.py) can use it without importing the backends' interfaces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..errors import FaultUnavailableError


@dataclass
class NodeSlot:
    """One node's place in its cluster, laid out by the backend before `merod init`."""

    name: str
    home: str  # merod's --home, as the node sees it
    listen_host: str  # what the server and the swarm bind to
    server_port: int  # as the node sees it
    swarm_port: int
    swarm_address: str  # the IPv4 address the other nodes dial (merod's swarm dials no DNS names)
    peer_id: str = ""  # from the config init wrote

    @property
    def multiaddr(self) -> str:
        return f"/ip4/{self.swarm_address}/tcp/{self.swarm_port}/p2p/{self.peer_id}"


class NetworkFaults(Protocol):
    """Faults in the network between a cluster's nodes (the swarm), as its backend can make them."""

    def cut(self, a: NodeSlot, b: NodeSlot) -> None:
        """No traffic between the two nodes, either way, until mend()."""
        ...

    def mend(self, a: NodeSlot, b: NodeSlot) -> None: ...

    def slow_down(self, slot: NodeSlot, *, delay_ms: int, jitter_ms: int, loss_percent: float) -> None: ...

    def restore(self, slot: NodeSlot) -> None: ...

    def clear(self) -> None:
        """Undo every fault of the cluster (teardown)."""
        ...


class NoNetworkFaults:
    """For a backend whose nodes share one network stack: every fault is refused, with why."""

    def __init__(self, why: str) -> None:
        self.why = why

    def _refuse(self) -> None:
        raise FaultUnavailableError(self.why)

    def cut(self, a: NodeSlot, b: NodeSlot) -> None:
        self._refuse()

    def mend(self, a: NodeSlot, b: NodeSlot) -> None:
        self._refuse()

    def slow_down(self, slot: NodeSlot, *, delay_ms: int, jitter_ms: int, loss_percent: float) -> None:
        self._refuse()

    def restore(self, slot: NodeSlot) -> None:
        self._refuse()

    def clear(self) -> None:
        pass
