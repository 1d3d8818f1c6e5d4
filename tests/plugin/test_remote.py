"""The remote backend: nodes that already run elsewhere, named by URL, never started or stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.simhelpers import SIM_COMMAND, NodeProcess, merod_in

from .support import Inner


@pytest.fixture
def remote_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    """Two simulator nodes that boot from each other, started here (not by the plugin) and
    stopped here by PID."""
    with merod_in(SIM_COMMAND, tmp_path_factory.mktemp("remote")) as merod:
        yield merod.start_mesh(["r1", "r2"])


def test_remote_nodes_make_a_cluster(inner: Inner, remote_nodes: list[NodeProcess]) -> None:
    urls = [node.url for node in remote_nodes]
    inner.pytester.makepyfile(
        f"""
        import pytest

        from pytest_meronodes.errors import ConfigurationError

        def test_two_nodes(node_cluster):
            cluster = node_cluster(count=2)
            assert len(cluster) == 2
            assert [node.url for node in cluster] == {urls!r}
            for node in cluster:
                assert node.client.peers_count() == 1
                assert node.client.health() == {{"status": "alive"}}
                assert node.home is None and node.log_path is None
            cluster.stop()  # never stops a remote node
            assert cluster[0].client.peers_count() == 1

        def test_more_nodes_than_urls(node_cluster):
            with pytest.raises(ConfigurationError, match="asks for 3 nodes but only 2 remote node URL"):
                node_cluster(count=3)

        @pytest.mark.nodes(count=3)
        def test_marker_asks_too_much(cluster):
            pass
        """
    )
    result = inner.run("--node-backend=remote", "--node-url", urls[0], "--node-url", urls[1])
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            f"meronodes: backend=remote, nodes: {urls[0]}, {urls[1]}",
            "E *ConfigurationError: the test asks for 3 nodes but only 2 remote node URL(s) are configured *",
        ]
    )
    for node in remote_nodes:
        assert node.process.poll() is None, f"{node.name} was stopped by the inner session"
        assert requests.get(node.url + "/admin-api/peers", timeout=10).json() == {"count": 1}


def test_remote_node_urls_from_the_environment(
    inner: Inner, remote_nodes: list[NodeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERONODES_NODE_BACKEND", "remote")
    monkeypatch.setenv("MERONODES_NODE_URL", ",".join(node.url for node in remote_nodes))
    inner.pytester.makepyfile(
        """
        def test_default_count(node_cluster):
            assert len(node_cluster()) == 1

        def test_two(node_cluster):
            assert [node.client.peers_count() for node in node_cluster(count=2)] == [1, 1]
        """
    )
    result = inner.run()
    result.assert_outcomes(passed=2)
    assert all(node.process.poll() is None for node in remote_nodes)


def test_remote_backend_without_urls(inner: Inner) -> None:
    inner.pytester.makepyfile("def test_cluster(node_cluster):\n    node_cluster()\n")
    result = inner.run("--node-backend=remote")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "meronodes: backend=remote, nodes: none configured",
            "E *ConfigurationError: --node-backend=remote needs node URLs: --node-url URL (repeatable), *",
        ]
    )
