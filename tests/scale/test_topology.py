"""Topologies on the binary backend (simulator), seen from a test: each node's bootstrap peers are
its wired peers and nothing else, the mesh gate holds a sparse cluster to its wiring, and a
context syncs across a sparse wiring."""

from __future__ import annotations

from tests.faults.support import FAULTS_CONFTEST
from tests.plugin.support import Inner
from tests.simhelpers import SIM

SUITE = """
import tomllib

import pytest


def bootstrap_peers(cluster, node):
    config = tomllib.loads((node.home / "config.toml").read_text())
    by_address = {other.multiaddr: other.name for other in cluster}
    return sorted(by_address[address] for address in config["bootstrap"]["nodes"])


def test_a_ring_wires_each_node_to_its_two_neighbours_and_syncs_a_context_around(node_cluster, app):
    cluster = node_cluster(count=12, topology="ring")
    assert cluster.topology == "ring"
    assert [peer.name for peer in cluster.wired_peers("node1")] == ["node2", "node12"]
    for node in cluster:
        assert bootstrap_peers(cluster, node) == sorted(cluster.wiring[node.name])
        assert node.client.peers_count() >= 2  # the gate held every node to its two wired peers
    ctx = cluster.shared_context(app)
    ctx.call("node1", "set", {"key": "k", "value": "from node1"})
    ctx.wait_for_sync()
    assert ctx.call("node7", "get", {"key": "k"}) == "from node1"  # the node farthest round the ring


def test_above_the_full_mesh_size_the_default_is_sparse(node_cluster):
    cluster = node_cluster(count=11)
    assert cluster.topology == "random:3"
    wired = {node.name: bootstrap_peers(cluster, node) for node in cluster}
    assert all(len(peers) >= 3 for peers in wired.values())
    assert sum(map(len, wired.values())) < 11 * 10  # not every node dials every other


def test_up_to_the_full_mesh_size_every_node_bootstraps_from_every_other(node_cluster):
    cluster = node_cluster(count=4)
    assert cluster.topology == "full"
    assert all(len(bootstrap_peers(cluster, node)) == 3 for node in cluster)


@pytest.mark.nodes(count=5)
def test_the_option_sets_the_topology_of_a_marked_cluster(cluster):
    assert cluster.topology == "star"
    assert bootstrap_peers(cluster, cluster["node1"]) == ["node2", "node3", "node4", "node5"]
    assert bootstrap_peers(cluster, cluster["node4"]) == ["node1"]


def test_a_custom_wiring_is_what_the_nodes_dial(node_cluster):
    cluster = node_cluster(count=4, topology={"node1": ["node2"], "node2": ["node3"], "node3": ["node4"]})
    assert cluster.topology == "custom"
    assert bootstrap_peers(cluster, cluster["node2"]) == ["node1", "node3"]
    assert bootstrap_peers(cluster, cluster["node4"]) == ["node3"]
"""


def test_topologies_wire_the_nodes_as_asked(inner: Inner) -> None:
    inner.conftest(FAULTS_CONFTEST)
    inner.pytester.makepyfile(test_topologies=SUITE)
    # the option: star for the marked cluster; the tests that pass `topology=` or rely on "auto"
    # are checked to win over it or to resolve it per cluster size
    result = inner.run(SIM, "--node-topology=star", "-k", "option")
    result.assert_outcomes(passed=1)
    result = inner.run(SIM, "-k", "not option", "-p", "no:randomly")
    result.assert_outcomes(passed=4)


def test_a_wiring_that_leaves_the_cluster_in_pieces_fails_before_anything_starts(inner: Inner) -> None:
    inner.pytester.makepyfile(test_pieces="""
def test_pieces(node_cluster):
    node_cluster(count=4, topology={"node1": ["node2"], "node3": ["node4"]})
""")
    result = inner.run(SIM)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*topology: the wiring leaves the cluster in 2 pieces (node1, node2; node3, node4)*"])
    assert not list(inner.base_dir.glob("*/*")), "nothing was started for a wiring in pieces"
