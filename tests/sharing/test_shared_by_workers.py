"""`shared_node_cluster`: one cluster for all xdist workers of a session, started once by the first
worker that asks, handed to the others, and stopped only when every worker is done with it."""

from __future__ import annotations

from tests.plugin.support import Inner, recording_merod
from tests.simhelpers import SIM

SHARED = """
@pytest.fixture(scope="session")
def shared(shared_node_cluster):
    cluster = shared_node_cluster(count=2, names=["alpha", "beta"])
    yield cluster
    append_record({"shared_fixture_torn_down_in": os.getpid()})


@pytest.fixture(scope="session")
def another(shared_node_cluster):
    return shared_node_cluster(count=1, names=["gamma"])
"""


def test_four_workers_share_one_cluster_started_once(inner: Inner) -> None:
    calls = inner.pytester.path / "merod-calls.txt"
    merod = recording_merod(inner.pytester.path / "merod", calls)
    inner.conftest(SHARED)
    inner.pytester.makepyfile(
        """
        import pytest
        from pytest_meronodes.errors import FaultUnavailableError

        @pytest.mark.parametrize("number", range(12))
        def test_uses_the_shared_cluster(shared, record, number):
            record(shared)
            assert [node.client.peers_count() for node in shared] == [1, 1]

        @pytest.mark.parametrize("number", range(4))
        def test_another_shared_cluster(another, number):
            # likely started by another worker than the first: starters never wait for each other
            assert another["gamma"].client.health()

        def test_faults_are_refused(shared):
            with pytest.raises(FaultUnavailableError, match="shared by the xdist workers"):
                shared["alpha"].kill()
            with pytest.raises(FaultUnavailableError, match="shared by the xdist workers"):
                shared.partition(["alpha"], ["beta"])
            with pytest.raises(FaultUnavailableError, match="shared by the xdist workers"):
                shared.stop()
        """
    )
    result = inner.run(f"--merod-binary={merod}", "-n", "4")
    result.assert_outcomes(passed=17)
    records = inner.records()
    assert len({item["worker_pid"] for item in records}) == 4, "every worker ran tests on the shared cluster"
    assert len({item["cluster"] for item in records}) == 1
    assert len({tuple(item["node_pids"]) for item in records}) == 1
    # merod init and run once per node, whichever worker came first: the cluster was started once
    invoked = [line.split() for line in calls.read_text().splitlines()]
    assert sum("run" in args for args in invoked) == 3  # alpha, beta, and gamma of the other cluster
    assert sum("init" in args for args in invoked) == 3
    inner.assert_nothing_left()


def test_the_worker_that_started_it_waits_for_the_others(inner: Inner) -> None:
    """The starting worker finishes first; another worker attaches afterwards and still uses the
    cluster while the starter's session fixtures are being torn down."""
    inner.conftest(SHARED)
    inner.pytester.makepyfile(
        """
        import json
        import os
        import time

        import pytest

        def wait_for(predicate, what, timeout=60):
            deadline = time.monotonic() + timeout
            while not predicate():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                time.sleep(0.05)

        def lines():
            path = os.environ["PLUGIN_TEST_RECORD"]
            return [json.loads(line) for line in open(path)] if os.path.exists(path) else []

        @pytest.mark.xdist_group("starter")
        def test_starts_it(shared, record):
            record(shared)

        @pytest.mark.xdist_group("late")
        def test_uses_it_after_the_starter_is_done(shared_node_cluster, record):
            wait_for(lambda: any("test" in line for line in lines()), "the starter's test")
            starter = next(line["worker_pid"] for line in lines() if "test" in line)
            assert starter != os.getpid()
            cluster = shared_node_cluster(count=2, names=["alpha", "beta"])
            wait_for(lambda: any(line.get("shared_fixture_torn_down_in") == starter for line in lines()),
                     "the starter's session teardown")
            record(cluster)
            assert [node.client.peers_count() for node in cluster] == [1, 1]
            cluster.check_alive()
        """
    )
    result = inner.run(SIM, "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=2)
    first, second = inner.records()
    assert first["cluster"] == second["cluster"]
    assert first["worker_pid"] != second["worker_pid"]
    inner.assert_nothing_left()


def test_without_xdist_it_is_a_session_cluster(inner: Inner) -> None:
    inner.conftest(SHARED)
    inner.pytester.makepyfile(
        """
        def test_one(shared, shared_node_cluster, record):
            record(shared)
            assert shared_node_cluster(count=2, names=["alpha", "beta"]) is shared

        def test_two(shared, record):
            record(shared)
        """
    )
    inner.run(SIM).assert_outcomes(passed=2)
    assert len({item["cluster"] for item in inner.records()}) == 1
    inner.assert_nothing_left()
