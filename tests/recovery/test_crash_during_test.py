"""A node that dies while a test uses it fails that test with the node's name, exit code and log;
a session cluster that lost a node is not handed to the next test as if it were healthy."""

from __future__ import annotations

import pytest

from tests.simhelpers import SIM_ARGS

KILLING = """
import os, signal
import pytest

def kill(node):
    os.kill(node.runtime.pid, signal.SIGKILL)
    node.runtime.wait_or_kill(0)  # collect it, so its exit code is known

@pytest.fixture(scope="session")
def shared(node_cluster_factory):
    return node_cluster_factory(count=2, names=["keeper", "victim"])
"""


def test_a_node_dying_during_a_test_fails_it_even_if_the_test_did_not_notice(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        KILLING
        + """
def test_unnoticed(node_cluster):
    cluster = node_cluster(count=2)
    kill(cluster["node2"])
"""
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E   *NodeError: node 'node2': node exited (exit code -9)", "*Node started successfully*"]
    )


def test_a_request_to_a_dead_node_names_it_instead_of_connection_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        KILLING
        + """
def test_uses_dead_node(node_cluster):
    cluster = node_cluster(count=2)
    kill(cluster["node2"])
    cluster["node2"].client.peers_count()
"""
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E   *NodeGoneError: node 'node2': node exited (exit code -9)"])
    result.stdout.fnmatch_lines(["*meronodes: log of node2*"])


def test_a_session_cluster_that_lost_a_node_is_not_handed_on(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        KILLING
        + """
def test_first_kills(shared):
    kill(shared["victim"])

def test_second_gets_the_damaged_cluster(shared):
    raise AssertionError("must not run with a damaged cluster")
"""
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*NodeError: node 'victim': node exited (exit code -9)*"])
    result.stdout.fnmatch_lines(["*NodeError: node 'victim': cluster * lost this node before the test*"])
    result.stdout.no_fnmatch_line("*must not run with a damaged cluster*")
