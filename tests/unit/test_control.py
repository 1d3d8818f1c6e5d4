"""Which pairs a partition cuts, what heal mends, and slow_down's argument checks: the bookkeeping
of control.py with a network of the test's own."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_meronodes.backends.swarm import NodeSlot
from pytest_meronodes.control import ClusterControl, GateSettings
from pytest_meronodes.errors import ConfigurationError
from pytest_meronodes.runtime import Liveness


class Network:
    def __init__(self) -> None:
        self.cut_pairs: set[frozenset[str]] = set()
        self.slowed: dict[str, dict[str, Any]] = {}

    def cut(self, a: NodeSlot, b: NodeSlot) -> None:
        self.cut_pairs.add(frozenset((a.name, b.name)))

    def mend(self, a: NodeSlot, b: NodeSlot) -> None:
        self.cut_pairs.discard(frozenset((a.name, b.name)))

    def slow_down(self, slot: NodeSlot, *, delay_ms: int, jitter_ms: int, loss_percent: float) -> None:
        self.slowed[slot.name] = {"delay_ms": delay_ms, "jitter_ms": jitter_ms, "loss_percent": loss_percent}

    def restore(self, slot: NodeSlot) -> None:
        self.slowed.pop(slot.name, None)

    def clear(self) -> None:
        self.cut_pairs.clear()
        self.slowed.clear()


class FakeNode:
    def __init__(self, name: str) -> None:
        self.name = name
        self.liveness = Liveness(name, None)
        self.runtime = None


def pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


@pytest.fixture
def setup() -> tuple[ClusterControl, Network, dict[str, FakeNode]]:
    network = Network()
    names = ("n1", "n2", "n3", "n4")
    control = ClusterControl(network, GateSettings(1.0, False, False),
                             {name: NodeSlot(name, "/", "0.0.0.0", 1, 2, "10.0.0.1") for name in names},
                             {name: set(names) - {name} for name in names})
    nodes = {name: FakeNode(name) for name in names}
    control.nodes = list(nodes.values())  # type: ignore[arg-type]
    return control, network, nodes


def test_a_partition_cuts_every_pair_across_sides_and_a_node_named_nowhere_is_alone(setup: Any) -> None:
    control, network, nodes = setup
    control.partition([[nodes["n1"], nodes["n2"]], [nodes["n3"]]])
    assert network.cut_pairs == {pair("n1", "n3"), pair("n2", "n3"), pair("n1", "n4"), pair("n2", "n4"),
                                 pair("n3", "n4")}
    assert pair("n1", "n2") not in network.cut_pairs


def test_a_node_on_two_sides_is_refused(setup: Any) -> None:
    control, network, nodes = setup
    with pytest.raises(ConfigurationError, match="a node is on two sides"):
        control.partition([[nodes["n1"]], [nodes["n1"], nodes["n2"]]])
    assert network.cut_pairs == set()


def test_undo_removes_every_fault(setup: Any) -> None:
    control, network, nodes = setup
    control.disconnect(nodes["n2"])
    control.slow_down(nodes["n3"], delay_ms=100, jitter_ms=10, loss_percent=5)
    assert len(network.cut_pairs) == 3
    control.undo()
    assert (network.cut_pairs, network.slowed, control.cut, control.slowed) == (set(), {}, set(), set())


@pytest.mark.parametrize(("arguments", "problem"), [
    ({"loss_percent": 101}, "loss_percent 0..100"),
    ({"delay_ms": -1}, "must be >= 0"),
    ({"delay_ms": True}, "must be >= 0"),
    ({"jitter_ms": 5}, "jitter_ms varies a delay: give delay_ms too"),
])
def test_slow_down_checks_its_arguments_first(setup: Any, arguments: dict[str, Any], problem: str) -> None:
    control, network, nodes = setup
    with pytest.raises(ConfigurationError, match=problem):
        control.slow_down(nodes["n1"], **arguments)
    assert network.slowed == {}
