"""Node failures at the edges: a crash while the mesh forms, a node stopped on purpose, a damaged
cluster handed over as a Node, a shared cluster kept after a failure."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.simhelpers import SIM_ARGS


@pytest.mark.timeout(60)  # the startup timeout below is 300 s: only failing fast fits in this
def test_a_node_crashing_while_the_mesh_forms_fails_the_start_at_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the crash comes when the mesh gate first asks for peers: after health and ready, whatever the load
    monkeypatch.setenv("MEROD_SIM_FAULT", "no-dial,exit-on-peers")
    pytester.makepyfile("def test_x(node_cluster):\n    node_cluster(count=2)\n")
    result = pytester.runpytest_subprocess(*SIM_ARGS, "--node-startup-timeout=300")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NodeStartError: node 'node?': mesh gate: node exited (exit code 3)*"])
    # every node's log is in the error, the crashed one first
    result.stdout.fnmatch_lines(["*--- last lines of node?'s log ---*", "*--- last lines of node?'s log ---*"])


def test_a_node_stopped_on_purpose_is_not_a_crash(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time

        def test_survivors_notice(node_cluster):
            cluster = node_cluster(count=3)
            cluster["node3"].stop()
            deadline = time.monotonic() + 10
            while cluster["node1"].client.peers_count() != 1:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert cluster["node3"].exit_code() == 0
        """
    )
    pytester.runpytest_subprocess(*SIM_ARGS).assert_outcomes(passed=1)


def test_a_damaged_cluster_handed_over_as_a_node_is_caught_and_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os, signal
        import pytest

        @pytest.fixture(scope="session")
        def pair(node_cluster_factory):
            return node_cluster_factory(count=2)

        @pytest.fixture
        def first_node(pair):
            return pair["node1"]

        def test_breaks_it(pair):
            os.kill(pair["node2"].runtime.pid, signal.SIGKILL)
            pair["node2"].runtime.wait_or_kill(0)

        def test_gets_a_node(first_node):
            raise AssertionError("must not run with a damaged cluster")
        """
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*NodeError: node 'node2': cluster * lost this node before the test*"])
    result.stdout.fnmatch_lines(["*meronodes: log of node2*"])
    result.stdout.no_fnmatch_line("*must not run with a damaged cluster*")


def test_a_shared_cluster_is_kept_when_the_session_had_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="session")
        def shared(node_cluster_factory):
            return node_cluster_factory(count=1, names=["shared"])

        def test_fails(shared):
            assert False
        """
    )
    result = pytester.runpytest_subprocess(*SIM_ARGS, "--keep-nodes-on-failure")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*clusters left running*", "*shared: http://127.0.0.1:*"])
    cluster = next(
        line.split()[1] for line in result.stdout.lines if line.startswith("cluster ") and "left running" in line
    )
    reaped = subprocess.run(
        [sys.executable, "-m", "pytest_meronodes", "reap", "--cluster", cluster],
        capture_output=True, text=True, check=True,
    ).stdout
    assert "removed 1 process(es), 1 home(s)" in reaped
