"""Node control on the binary backend (simulator): each fault's effect on the peers, its
recovery through the start gates, and a teardown that leaves nothing, also after a test that left
a node paused or killed and failed midway."""

from __future__ import annotations

from tests.plugin.support import Inner
from tests.simhelpers import SIM

from .support import FAULTS_CONFTEST

SUITE = """
import signal

import pytest

from conftest import peer_counts, until
from pytest_meronodes import FaultUnavailableError, LogTimeoutError, NodeGoneError


def test_stop_and_start_keep_the_node_and_bring_the_mesh_back(node_cluster, app, record):
    cluster = node_cluster(count=3, auth="embedded")
    ctx = cluster.shared_context(app)
    ctx.call("node1", "set", {"key": "k", "value": "before"})
    ctx.wait_for_sync()
    node = cluster["node2"]
    before = (node.home, node.rpc_port, node.swarm_port, node.url, node.client.identity())
    node.stop()
    until(lambda: peer_counts([cluster["node1"], cluster["node3"]]) == {"node1": 1, "node3": 1},
          what="the peers dropping node2")
    with pytest.raises(NodeGoneError, match="stopped on purpose"):
        node.client.peers_count()
    node.start()
    # start returned after the gates: it answers with its old identity and sees both peers
    assert (node.home, node.rpc_port, node.swarm_port, node.url, node.client.identity()) == before
    assert node.client.peers_count() == 2
    assert ctx.call("node2", "get", {"key": "k"}) == "before"  # its data survived
    ctx.call("node2", "set", {"key": "k", "value": "after"})
    ctx.wait_for_sync()
    record(cluster)


def test_kill_is_a_crash_on_purpose_and_start_recovers(node_cluster, record):
    cluster = node_cluster(count=2)
    node = cluster["node1"]
    node.kill()
    assert node.exit_code() == -signal.SIGKILL
    until(lambda: cluster["node2"].client.peers_count() == 0, what="node2 dropping the killed node1")
    node.restart()
    assert node.exit_code() is None
    assert peer_counts(cluster) == {"node1": 1, "node2": 1}
    record(cluster)


def test_pause_freezes_the_node_until_resume(node_cluster, record):
    cluster = node_cluster(count=3)
    node = cluster["node3"]
    node.pause()
    # the peers' keep-alive finds it silent, and they drop it
    until(lambda: peer_counts(cluster[:2]) == {"node1": 1, "node2": 1}, what="the peers dropping node3")
    with pytest.raises(NodeGoneError, match="is paused on purpose"):
        node.client.peers_count(timeout=0.5)
    node.resume()
    assert node.client.peers_count() == 2
    until(lambda: peer_counts(cluster) == {"node1": 2, "node2": 2, "node3": 2}, what="the mesh coming back")
    record(cluster)


def test_network_faults_need_the_docker_backend(node_cluster):
    cluster = node_cluster(count=2)
    for fault in (cluster["node1"].disconnect, lambda: cluster.partition(["node1"], ["node2"]),
                  lambda: cluster["node2"].slow_down(loss_percent=10)):
        with pytest.raises(FaultUnavailableError, match="need --node-backend=docker"):
            fault()


def test_wait_for_log_returns_the_line(node_cluster):
    cluster = node_cluster(count=2)
    line = cluster["node1"].wait_for_log(r"Connection established with peer 12D3", timeout=10)
    assert cluster["node2"].peer_id in line
    with pytest.raises(LogTimeoutError, match="no log line matched 'never logged' within 0.2 s"):
        cluster["node1"].wait_for_log("never logged", timeout=0.2)


def test_a_panic_in_a_node_log_fails_the_test(node_cluster):
    cluster = node_cluster(count=1)
    with open(cluster[0].log_path, "a") as log:
        log.write("thread 'tokio-runtime-worker' panicked at crates/node/src/sync.rs:42:9:\\n")


@pytest.mark.allow_panics
def test_a_test_may_allow_panics(node_cluster):
    cluster = node_cluster(count=1)
    with open(cluster[0].log_path, "a") as log:
        log.write("thread 'main' panicked at src/main.rs:1:1:\\n")


def test_left_paused_and_killed_and_failed_midway(node_cluster, record):
    cluster = node_cluster(count=3)
    record(cluster)
    cluster["node1"].pause()
    cluster["node2"].kill()
    assert False, "fails with a paused and a killed node"
"""


def test_node_control_on_the_binary_backend(inner: Inner) -> None:
    inner.conftest(FAULTS_CONFTEST)
    inner.pytester.makepyfile(test_faults=SUITE)
    result = inner.run(SIM, "-v", "--tb=short")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines([
        "*test_a_panic_in_a_node_log_fails_the_test FAILED*",
        "*test_left_paused_and_killed_and_failed_midway FAILED*",
    ])
    result.stdout.fnmatch_lines([
        "*NodeError: node 'node1': logged a panic during the test: thread 'tokio-runtime-worker' panicked at "
        "crates/node/src/sync.rs:42:9:*",
    ])
    # the paused node was resumed and stopped, the killed one collected: no process, home or port left
    inner.assert_nothing_left()
