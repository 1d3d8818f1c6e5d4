"""What a Calimero developer writes: a key-value application used from several nodes at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_meronodes import Cluster, ClusterFactory, RpcError

# the `share_context` fixture of conftest.py: install, create on the first node, join from the others
ShareContext = Callable[[Cluster], str]



def test_a_write_on_one_node_reaches_every_member(
    node_cluster: ClusterFactory, auth_mode: str, share_context: ShareContext
) -> None:
    cluster = node_cluster(count=3, auth=auth_mode)
    context_id = share_context(cluster)

    cluster["node1"].client.execute(context_id, "set", {"key": "greeting", "value": "hello"})

    state_hash = cluster.wait_for_context_sync(context_id, timeout=30)
    for node in cluster:
        assert node.client.execute(context_id, "get", {"key": "greeting"}) == "hello"
        assert node.client.context_state_hash(context_id) == state_hash


def test_concurrent_writes_converge(node_cluster: ClusterFactory, auth_mode: str, share_context: ShareContext) -> None:
    cluster = node_cluster(count=3, auth=auth_mode)
    context_id = share_context(cluster)

    for index, node in enumerate(cluster):
        node.client.execute(context_id, "set", {"key": f"from-{node.name}", "value": index})
    cluster["node2"].client.execute(context_id, "remove", {"key": "from-node1"})

    cluster.wait_for_context_sync(context_id, timeout=30)
    expected = {"from-node2": 1, "from-node3": 2}
    for node in cluster:
        assert node.client.execute(context_id, "entries") == expected


@pytest.mark.nodes(count=1)
def test_unknown_method_is_a_typed_error(cluster: Cluster, share_context: ShareContext) -> None:
    context_id = share_context(cluster)

    with pytest.raises(RpcError) as raised:
        cluster[0].client.execute(context_id, "no_such_method")
    assert raised.value.type == "FunctionCallError"


@pytest.fixture(scope="module")
def shared_cluster(node_cluster_factory: ClusterFactory) -> Cluster:
    """An expensive cluster started once and shared by the tests of this module."""
    return node_cluster_factory(count=2, config={"sync.interval_ms": 200}, names=["alice", "bob"])


def test_a_late_joiner_catches_up(shared_cluster: Cluster, kv_app: Path) -> None:
    alice, bob = shared_cluster["alice"], shared_cluster["bob"]
    application_id = alice.install_dev_application(kv_app)
    bob.install_dev_application(kv_app)
    context_id = str(alice.client.create_context(application_id)["contextId"])
    for number in range(5):
        alice.client.execute(context_id, "set", {"key": f"k{number}", "value": number})

    bob.client.join_context(context_id)

    shared_cluster.wait_for_context_sync(context_id, timeout=30)
    assert bob.client.execute(context_id, "len") == 5


def test_nodes_see_each_other(shared_cluster: Cluster) -> None:
    for node in shared_cluster:
        assert node.client.peers_count() >= len(shared_cluster) - 1
        assert node.peer_id is not None
        assert node.peer_id.startswith("12D3KooW")
