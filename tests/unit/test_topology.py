"""topology.py: how a cluster's nodes are wired, and what the mesh gate then waits for."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_meronodes.config import Given, settings_from
from pytest_meronodes.errors import ConfigurationError
from pytest_meronodes.spec import make_spec
from pytest_meronodes.topology import FULL_MESH_MAX, components, normalise, wire


def names(count: int) -> tuple[str, ...]:
    return tuple(f"node{i + 1}" for i in range(count))


def degrees(wiring: tuple[tuple[str, ...], ...]) -> list[int]:
    return [len(peers) for peers in wiring]


def links(nodes: tuple[str, ...], wiring: tuple[tuple[str, ...], ...]) -> set[frozenset[str]]:
    return {frozenset((name, peer)) for name, peers in zip(nodes, wiring) for peer in peers}


def test_auto_is_a_full_mesh_up_to_the_documented_size_and_sparse_above() -> None:
    assert normalise("auto", FULL_MESH_MAX) == "full"
    assert normalise("auto", FULL_MESH_MAX + 1) == "random:3"
    assert normalise(" Random ", 5) == "random:3"


def test_a_full_mesh_wires_every_pair() -> None:
    nodes = names(5)
    assert degrees(wire("full", nodes)) == [4] * 5


def test_a_ring_wires_each_node_to_its_neighbours_and_a_link_is_listed_on_both_sides() -> None:
    nodes = names(5)
    wiring = wire("ring", nodes)
    assert wiring[0] == ("node2", "node5")
    assert wiring[2] == ("node2", "node4")
    assert links(nodes, wiring) == {frozenset((nodes[i], nodes[(i + 1) % 5])) for i in range(5)}


@pytest.mark.parametrize("count", [1, 2, 3])
def test_small_rings_have_no_duplicate_links(count: int) -> None:
    wiring = wire("ring", names(count))
    assert degrees(wiring) == [min(count - 1, 2)] * count


def test_a_star_wires_everyone_to_the_first_node() -> None:
    wiring = wire("star", names(4))
    assert wiring == (("node2", "node3", "node4"), ("node1",), ("node1",), ("node1",))


@pytest.mark.parametrize("count", [4, 11, 30, 100])
@pytest.mark.parametrize("peers", [2, 3, 5])
def test_random_wirings_are_connected_give_every_node_its_peers_and_grow_linearly(count: int, peers: int) -> None:
    nodes = names(count)
    wiring = wire(f"random:{peers}", nodes)
    assert len(components(nodes, wiring)) == 1
    assert min(degrees(wiring)) >= min(peers, count - 1)
    assert len(links(nodes, wiring)) <= count * peers  # O(N) dials, never N^2
    assert all(name not in peers_of for name, peers_of in zip(nodes, wiring))


def index_links(nodes: tuple[str, ...], wiring: tuple[tuple[str, ...], ...]) -> set[frozenset[int]]:
    return {frozenset((nodes.index(a), nodes.index(b))) for a, b in map(tuple, links(nodes, wiring))}


def test_one_spec_always_wires_the_same_way() -> None:
    nodes, other = names(30), tuple(f"peer-{i}" for i in range(30))
    assert wire("random:3", nodes) == wire("random:3", nodes)
    # the draw is seeded by the names: other names are another (equally valid) draw
    assert index_links(nodes, wire("random:3", nodes)) != index_links(other, wire("random:3", other))


def test_a_custom_wiring_is_made_symmetric_and_must_connect_every_node() -> None:
    nodes = names(4)
    wiring = wire({"node1": ["node2"], "node3": ["node2", "node4"]}, nodes)
    assert wiring == (("node2",), ("node1", "node3"), ("node2", "node4"), ("node3",))
    with pytest.raises(ValueError, match=r"2 pieces \(node1, node2; node3, node4\)"):
        wire({"node1": ["node2"], "node3": ["node4"]}, nodes)
    with pytest.raises(ValueError, match="unknown node 'node9'"):
        wire({"node1": ["node9"]}, nodes)
    with pytest.raises(ValueError, match="to itself"):
        wire({"node1": ["node1"]}, nodes)


@pytest.mark.parametrize(("bad", "problem"), [
    ("mesh", "unknown topology 'mesh'"),
    ("random:1", "K >= 2"),
    (3, "topology must be one of"),
])
def test_a_wrong_topology_is_a_configuration_error_before_anything_starts(bad: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        make_spec(settings_from({}), {"count": 3, "topology": bad})


def test_the_option_sets_the_default_and_a_test_argument_beats_it() -> None:
    settings = settings_from({"node_topology": Given(cli="ring")})
    assert make_spec(settings, {"count": 4}).topology == "ring"
    assert make_spec(settings, {"count": 4, "topology": "star"}).topology == "star"
    assert make_spec(settings_from({}), {"count": 12}).topology == "random:3"
    spec = make_spec(settings_from({}), {"count": 3, "topology": {"node1": ["node2", "node3"]}})
    assert (spec.topology, spec.wired_peers("node2")) == ("custom", ("node1",))


def test_a_wrong_topology_option_names_its_source() -> None:
    with pytest.raises(ConfigurationError, match="MERONODES_NODE_TOPOLOGY: unknown topology 'hypercube'"):
        settings_from({"node_topology": Given(env="hypercube")})


def test_the_wired_peers_of_a_spec_are_the_bootstrap_peers_of_each_node() -> None:
    spec = make_spec(dataclasses.replace(settings_from({}), topology="ring"), {"count": 4})
    assert [spec.wired_peers(name) for name in spec.names] == [
        ("node2", "node4"), ("node1", "node3"), ("node2", "node4"), ("node1", "node3")]
