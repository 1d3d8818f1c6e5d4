"""An expensive cluster started once for the whole session: `shared_node_cluster` starts it in
the first xdist worker that asks and hands it to the others (`pytest examples -n 2`); with
`--reuse-nodes` it is left running, and the next session takes it instead of starting it again.
The nodes are wired in a ring (`topology="ring"`): each knows only its two neighbours, and what
one writes still reaches the node on the far side."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_meronodes import Cluster, SharedClusters

NAMES = ["ring1", "ring2", "ring3", "ring4"]


@pytest.fixture(scope="session")
def ring(shared_node_cluster: SharedClusters, auth_mode: str) -> Cluster:
    return shared_node_cluster(names=NAMES, topology="ring", auth=auth_mode)


@pytest.mark.parametrize(("writer", "reader"), [("ring1", "ring3"), ("ring2", "ring4")])
def test_a_write_reaches_the_far_side_of_the_ring(ring: Cluster, kv_app: Path, writer: str, reader: str) -> None:
    assert reader not in [node.name for node in ring.wired_peers(writer)]  # two hops away
    ctx = ring.shared_context(kv_app)  # a context of this test's own: the cluster is shared

    ctx.call(writer, "set", {"key": "from", "value": writer})

    ctx.wait_for_sync()
    assert ctx.call(reader, "get", {"key": "from"}) == writer
