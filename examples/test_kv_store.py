"""What a Calimero developer writes: a key-value application used from several nodes at once.

`cluster.shared_context(app)` installs the application on every node, creates a namespace and a
context on the first node and lets the others join through invitations; `ctx.call` runs a method
on one node, `ctx.wait_for_sync()` waits until every member has synced and all agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meronodes import Cluster, ClusterFactory, RpcError


def test_a_write_on_one_node_reaches_every_member(node_cluster: ClusterFactory, auth_mode: str, kv_app: Path) -> None:
    cluster = node_cluster(count=3, auth=auth_mode)
    ctx = cluster.shared_context(kv_app)

    ctx.call("node1", "set", {"key": "greeting", "value": "hello"})

    ctx.wait_for_sync()
    for node in cluster:
        assert ctx.call(node, "get", {"key": "greeting"}) == "hello"


def test_writes_from_every_node_converge(node_cluster: ClusterFactory, auth_mode: str, kv_app: Path) -> None:
    cluster = node_cluster(count=3, auth=auth_mode)
    ctx = cluster.shared_context(kv_app)

    for node in cluster:
        ctx.call(node, "set", {"key": f"from-{node.name}", "value": node.name})
    ctx.wait_for_sync()
    assert ctx.call("node2", "remove", {"key": "from-node1"}) == "node1"

    ctx.wait_for_sync()
    for node in cluster:
        assert ctx.call(node, "entries") == {"from-node2": "node2", "from-node3": "node3"}


@pytest.mark.nodes(count=1)
def test_unknown_method_is_a_typed_error(cluster: Cluster, kv_app: Path) -> None:
    ctx = cluster.shared_context(kv_app)

    with pytest.raises(RpcError) as raised:
        ctx.call(cluster[0], "no_such_method")
    assert raised.value.type == "FunctionCallError"


@pytest.fixture(scope="module")
def shared_cluster(node_cluster_factory: ClusterFactory) -> Cluster:
    """An expensive cluster started once and shared by the tests of this module."""
    return node_cluster_factory(count=2, config={"sync.interval_ms": 200}, names=["alice", "bob"])


def test_a_late_joiner_catches_up(shared_cluster: Cluster, kv_app: Path) -> None:
    ctx = shared_cluster.shared_context(kv_app, nodes=["alice"])
    for number in range(5):
        ctx.call("alice", "set", {"key": f"k{number}", "value": str(number)})

    ctx.add_member("bob")

    ctx.wait_for_sync()
    assert ctx.call("bob", "len") == 5
    assert ctx.call("bob", "get", {"key": "k4"}) == "4"


def test_members_hold_namespace_identities(shared_cluster: Cluster, kv_app: Path) -> None:
    ctx = shared_cluster.shared_context(kv_app)

    identities = [node.client.identity() for node in ctx.members]

    assert all(identity is not None for identity in identities)
    assert len({identity.account_id for identity in identities if identity is not None}) == 2


def test_nodes_see_each_other(shared_cluster: Cluster) -> None:
    for node in shared_cluster:
        assert node.client.peers_count() >= len(shared_cluster) - 1
        assert node.peer_id is not None
        assert node.peer_id.startswith("12D3KooW")
