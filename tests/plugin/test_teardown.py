"""After a test, passed or failed, its clusters are gone: no node process, no home, no port
reservation."""

from __future__ import annotations

import shlex

from tests.simhelpers import SIM, SIM_COMMAND

from .support import Inner, write_executable

SUITE = """
    import os

    from pytest_meronodes.ports import DEFAULT_REGISTRY

    def check_running(cluster):
        for node in cluster:
            assert node.client.peers_count() == len(cluster) - 1
            assert node.home.is_dir()
            os.kill(node.runtime.pid, 0)
            for port in (node.rpc_port, node.swarm_port):
                # reserved in the shared registry, by this process, while the cluster runs
                reservation = (DEFAULT_REGISTRY / f"{port}.json").read_text()
                assert f'"pid": {os.getpid()}' in reservation

    def test_passes(node_cluster, record):
        cluster = node_cluster(count=2)
        record(cluster)
        check_running(cluster)

    def test_fails(node_cluster, record):
        cluster = node_cluster(count=2)
        record(cluster)
        check_running(cluster)
        assert False, "this test fails"

    def test_two_clusters_in_one_test(node_cluster, record):
        for count in (1, 3):
            cluster = node_cluster(count=count)
            record(cluster)
            check_running(cluster)

    def test_error_in_the_test(node_cluster, record):
        cluster = node_cluster(count=1)
        record(cluster)
        raise RuntimeError("the test itself broke")
"""


def test_nothing_is_left_after_passing_and_failing_tests(inner: Inner) -> None:
    inner.pytester.makepyfile(SUITE)
    result = inner.run(SIM, "--node-port-range=30400-30599")
    result.assert_outcomes(passed=2, failed=2)
    records = inner.records()
    assert len(records) == 5
    assert all(30400 <= port <= 30599 for item in records for port in item["ports"])
    inner.assert_nothing_left()


def test_nothing_is_left_of_a_merod_that_is_a_wrapper_script(inner: Inner) -> None:
    """A merod started through a shell script that does not `exec` (a version manager's shim, a
    script that sets the environment): stopping the script alone would orphan the real merod."""
    wrapper = write_executable(
        inner.pytester.path / "merod",
        f'#!/bin/sh\n{shlex.join(SIM_COMMAND)} "$@"\n',
    )
    inner.pytester.makepyfile(
        """
        def test_passes(node_cluster, record):
            record(node_cluster(count=2))

        def test_fails(node_cluster, record):
            record(node_cluster(count=1))
            assert False
        """
    )
    result = inner.run(f"--merod-binary={wrapper}")
    result.assert_outcomes(passed=1, failed=1)
    inner.assert_nothing_left()


def test_a_stopped_clusters_ports_serve_the_next_cluster(inner: Inner) -> None:
    """A range of exactly one cluster's ports serves cluster after cluster: released reservations are
    reusable at once, though the old nodes' connections linger in TIME_WAIT on those ports."""
    inner.pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("round", range(3))
        def test_round(node_cluster, record, round):
            cluster = node_cluster(count=2)
            record(cluster)
            for node in cluster:
                assert node.client.peers_count() == 1
        """
    )
    result = inner.run(SIM, "--node-port-range=30800-30803")
    result.assert_outcomes(passed=3)
    assert [sorted(item["ports"]) for item in inner.records()] == [[30800, 30801, 30802, 30803]] * 3
    inner.assert_nothing_left()
