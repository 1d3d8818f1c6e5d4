"""Node control for fault tests: stop, start, restart, kill, pause and resume a node; cut it off
the swarm, partition the cluster, heal it; slow a node's swarm traffic down. Each fault is
recorded here, and undone at the cluster's teardown whatever the test did.

A node brought back (start, restart, resume, reconnect, heal) passes the gates of a cluster start
again before the call returns: health, ready, auth, and the mesh back to the peers it can reach."""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .backends.swarm import NetworkFaults, NodeSlot
from .client import NodeClient
from .errors import ConfigurationError
from .gates import authenticate, wait_for_mesh, wait_until_ready
from .runtime import Liveness, NodeRuntime


class Node(Protocol):
    """What control needs of a node (a node.Node is one; named so here for readability)."""

    @property
    def name(self) -> str: ...

    @property
    def client(self) -> NodeClient: ...

    @property
    def liveness(self) -> Liveness: ...

    @property
    def runtime(self) -> NodeRuntime | None: ...

    def exit_code(self) -> int | None: ...

    def exit_note(self) -> str: ...

    def check_alive(self) -> None: ...

    def log_tail(self, lines: int = 40) -> str: ...


@dataclass(frozen=True)
class GateSettings:
    timeout: float  # the startup timeout: each return passes its gates within it
    check_ready: bool
    auth: bool


@dataclass
class ClusterControl:
    faults: NetworkFaults
    gates: GateSettings
    slots: dict[str, NodeSlot]
    wiring: dict[str, set[str]]  # each node's wired peers: whom it dials again when it comes back
    nodes: list[Node] = field(default_factory=list)  # set once the cluster's nodes exist
    cut: set[frozenset[str]] = field(default_factory=set)  # pairs of node names that cannot reach each other
    slowed: set[str] = field(default_factory=set)

    # -- the process ------------------------------------------------------------------------------
    def stop(self, node: Node) -> None:
        node.liveness.mark_stopped()
        if node.runtime is not None:
            node.runtime.stop()

    def kill(self, node: Node, signum: int = signal.SIGKILL) -> None:
        node.liveness.mark("killed", f"node.kill({signal.Signals(signum).name})")
        if node.runtime is not None:
            node.runtime.kill(signum)

    def start(self, node: Node) -> None:
        if node.runtime is None:
            raise ConfigurationError(f"{node.name} is not a node pytest-meronodes started: it cannot start it")
        if node.liveness.state == "paused":
            raise ConfigurationError(f"{node.name} is paused: node.resume() it instead of starting it")
        if node.runtime.exit_code() is None and node.liveness.state == "running":
            return  # running already
        node.runtime.start()
        node.liveness.mark_running()
        self._back(node)

    def restart(self, node: Node) -> None:
        if node.liveness.state == "paused":
            self.resume(node)
        self.stop(node)
        self.start(node)

    def pause(self, node: Node) -> None:
        if node.runtime is None:
            raise ConfigurationError(f"{node.name} is not a node pytest-meronodes started: it cannot pause it")
        node.runtime.pause()
        node.liveness.mark("paused", "node.pause()")

    def resume(self, node: Node) -> None:
        if node.liveness.state != "paused" or node.runtime is None:
            return
        node.runtime.resume()
        node.liveness.mark_running()
        self._back(node)

    # -- the network ------------------------------------------------------------------------------
    def partition(self, groups: Sequence[Sequence[Node]]) -> None:
        """Cut every pair of nodes on different sides; a node in no group is a side of its own."""
        named = [{node.name for node in group} for group in groups]
        seen = [name for side in named for name in side]
        if len(seen) != len(set(seen)):
            raise ConfigurationError("partition: a node is on two sides")
        sides = named + [{node.name} for node in self.nodes if node.name not in seen]
        for i, side in enumerate(sides):
            for other in sides[i + 1:]:
                for a in side:
                    for b in other:
                        self._cut(a, b)

    def disconnect(self, node: Node) -> None:
        for other in self.nodes:
            if other is not node:
                self._cut(node.name, other.name)

    def _cut(self, a: str, b: str) -> None:
        pair = frozenset((a, b))
        if pair not in self.cut:
            self.faults.cut(self.slots[a], self.slots[b])
            self.cut.add(pair)

    def reconnect(self, node: Node) -> None:
        for pair in [pair for pair in self.cut if node.name in pair]:
            a, b = sorted(pair)
            self.faults.mend(self.slots[a], self.slots[b])
            self.cut.discard(pair)
        self._wait_for_mesh([node])

    def heal(self) -> None:
        for pair in list(self.cut):
            a, b = sorted(pair)
            self.faults.mend(self.slots[a], self.slots[b])
            self.cut.discard(pair)
        self._wait_for_mesh(self._running())

    def slow_down(self, node: Node, *, delay_ms: int = 0, jitter_ms: int = 0, loss_percent: float = 0.0) -> None:
        if any(isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
               for value in (delay_ms, jitter_ms, loss_percent)) or loss_percent > 100:
            raise ConfigurationError(
                f"slow_down: delay_ms and jitter_ms must be >= 0 and loss_percent 0..100, got "
                f"delay_ms={delay_ms!r}, jitter_ms={jitter_ms!r}, loss_percent={loss_percent!r}"
            )
        if jitter_ms and not delay_ms:
            raise ConfigurationError("slow_down: jitter_ms varies a delay: give delay_ms too")
        self.faults.slow_down(self.slots[node.name], delay_ms=int(delay_ms), jitter_ms=int(jitter_ms),
                              loss_percent=float(loss_percent))
        self.slowed.add(node.name)

    def restore(self, node: Node) -> None:
        if node.name in self.slowed:
            self.faults.restore(self.slots[node.name])
            self.slowed.discard(node.name)

    # -- gates and teardown -----------------------------------------------------------------------
    def _running(self) -> list[Node]:
        return [node for node in self.nodes if node.liveness.state == "running"]

    def _reachable(self, node: Node) -> list[Node]:
        """Its wired peers that run and are not cut off from it."""
        wired = self.wiring.get(node.name, set())
        return [other for other in self._running()
                if other.name in wired and frozenset((node.name, other.name)) not in self.cut]

    def _back(self, node: Node) -> None:
        deadline = time.monotonic() + self.gates.timeout
        wait_until_ready(node, deadline=deadline, timeout=self.gates.timeout, check_ready=self.gates.check_ready)
        if self.gates.auth:
            authenticate(node)
        self._wait_for_mesh([node], deadline)

    def _wait_for_mesh(self, nodes: list[Node], deadline: float | None = None) -> None:
        """Each node sees at least the wired peers it can reach now (running, not cut off from it)."""
        deadline = deadline if deadline is not None else time.monotonic() + self.gates.timeout
        for node in nodes:
            wait_for_mesh([node], deadline=deadline, min_peers=len(self._reachable(node)))

    def undo(self) -> None:
        """Teardown: every paused node resumed (a frozen process takes no SIGTERM), every cut and
        slow-down removed, whatever the test left."""
        try:
            for node in self.nodes:
                if node.liveness.state == "paused" and node.runtime is not None:
                    node.runtime.resume()
        finally:
            self.faults.clear()
            self.cut.clear()
            self.slowed.clear()
