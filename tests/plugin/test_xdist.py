"""Under pytest-xdist every worker starts its own clusters: the same tests pass with any number of
workers, concurrent clusters never share a port, and nothing is left afterwards."""

from __future__ import annotations

from itertools import combinations

import pytest

from tests.simhelpers import SIM

from .support import RECORD_ENV, Inner

CORE_SUITE = """
    import pytest
    import requests

    def test_fixture(node_cluster, record):
        cluster = node_cluster(count=3)
        record(cluster)
        assert [node.client.peers_count() for node in cluster] == [2, 2, 2]

    @pytest.mark.nodes(count=2, auth="embedded")
    def test_marker_with_auth(cluster, record):
        record(cluster)
        for node in cluster:
            assert node.client.peers_count() == 1
            assert requests.get(node.url + "/admin-api/peers", timeout=10).status_code == 401

    def test_session_cluster(shared, record):
        record(shared)
        assert [node.client.peers_count() for node in shared] == [1, 1]

    @pytest.mark.parametrize("number", range(4))
    def test_many(node_cluster, record, number):
        cluster = node_cluster(count=2, names=[f"a{number}", f"b{number}"])
        record(cluster)
        assert cluster[f"b{number}"].client.peers_count() == 1
"""
SHARED = """
@pytest.fixture(scope="session")
def shared(node_cluster_factory):
    return node_cluster_factory(count=2)
"""


@pytest.mark.parametrize("workers", ["0", "2", "4"])
def test_core_tests_pass_with_any_number_of_workers(inner: Inner, workers: str) -> None:
    inner.conftest(SHARED)
    inner.pytester.makepyfile(CORE_SUITE)
    result = inner.run(SIM, "-n", workers)
    result.assert_outcomes(passed=7)
    if workers != "0":
        result.stdout.fnmatch_lines([f"created: {workers}/{workers} workers"])
    records = inner.records()
    assert len(records) == 7
    # xdist's controller plus the workers, or the one process
    assert len(inner.session_pids()) == (1 if workers == "0" else 1 + int(workers))
    inner.assert_nothing_left()


# 10 test functions x 4 parameters = 40 clusters of 2 nodes, on 4 workers; each test records its
# cluster's ports over an interval inside the cluster's life (after start, before stop). A test body
# lasts milliseconds while a start lasts a few hundred, so lives would rarely overlap by chance on a
# loaded machine: each cluster, once alive, waits (boundedly) until another worker's cluster is alive too.
MANY_CONFTEST = f"""
ALIVE = os.path.join(os.path.dirname(os.environ[{RECORD_ENV!r}]), "alive")


def another_worker_alive():
    mine = str(os.getpid()) + "-"
    return any(not name.startswith(mine) for name in os.listdir(ALIVE))


@pytest.fixture
def tracked(node_cluster):
    cluster = node_cluster(count=2)
    alive_from = time.monotonic()
    os.makedirs(ALIVE, exist_ok=True)
    marker = os.path.join(ALIVE, f"{{os.getpid()}}-{{cluster.id}}")
    open(marker, "w").close()
    deadline = alive_from + 2.0
    while not another_worker_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    yield cluster
    # removed before the interval ends: a cluster seen alive by another overlaps it in the records
    os.remove(marker)
    alive_until = time.monotonic()
    # the processes ran all along: none was replaced by another cluster's
    assert all(node.exit_code() is None for node in cluster)
    append_record({{"test": "tracked", "worker_pid": os.getpid(), "from": alive_from, "until": alive_until,
                   **describe(cluster)}})
"""
MANY_TEST = """
@pytest.mark.parametrize("number", range(4))
def test_cluster_{index}(tracked, number):
    for node in tracked:
        assert node.client.peers_count() == 1
        os.kill(node.runtime.pid, 0)
"""


def test_forty_clusters_on_four_workers_never_share_a_port(inner: Inner) -> None:
    inner.conftest(MANY_CONFTEST)
    inner.pytester.makepyfile(
        "import os\n\nimport pytest\n" + "".join(MANY_TEST.format(index=index) for index in range(10))
    )
    # a narrow range, so that ports are reused by clusters that follow each other
    result = inner.run(SIM, "-n", "4", "--node-port-range=30600-30759")
    result.assert_outcomes(passed=40)
    records = inner.records()
    assert len(records) == 40
    assert len({item["worker_pid"] for item in records}) == 4
    assert all(30600 <= port <= 30759 for item in records for port in item["ports"])
    overlapping = 0
    for first, second in combinations(records, 2):
        assert len(set(first["ports"])) == 4
        if first["from"] < second["until"] and second["from"] < first["until"]:
            overlapping += 1
            shared = set(first["ports"]) & set(second["ports"])
            assert not shared, f"clusters {first['cluster']} and {second['cluster']} were alive together on {shared}"
    assert overlapping > 0, "no two clusters ran at the same time: the check proved nothing"
    inner.assert_nothing_left()
