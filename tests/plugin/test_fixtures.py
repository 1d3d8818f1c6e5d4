"""The `node_cluster` and `node_cluster_factory` fixtures and what they return."""

from __future__ import annotations

from tests.simhelpers import SIM

from .support import Inner


def test_three_node_cluster_meshes_and_describes_its_nodes(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest
        import requests

        def test_cluster(node_cluster, record):
            cluster = node_cluster(count=3)
            record(cluster)
            assert len(cluster) == 3
            assert [node.name for node in cluster] == ["node1", "node2", "node3"] == cluster.names
            assert cluster["node2"] is cluster[1] is cluster.nodes[1]
            assert cluster[0].name == "node1" and cluster[-1].name == "node3"
            with pytest.raises(KeyError, match="node4"):
                cluster["node4"]
            for node in cluster:
                assert node.client.peers_count() == 2
                assert node.client.health() == {"status": "alive"}
                assert node.url == f"http://127.0.0.1:{node.rpc_port}"
                assert node.peer_id.startswith("12D3KooW")
                assert node.multiaddr == f"/ip4/127.0.0.1/tcp/{node.swarm_port}/p2p/{node.peer_id}"
                assert node.home.is_dir() and (node.home / "config.toml").is_file()
                assert node.log_path.is_file()
                assert "Node started successfully" in node.logs()
                assert node.exit_code() is None
                # no auth asked for: no token, and the admin API is open
                assert node.client.token is None
                assert requests.get(node.url + "/admin-api/peers", timeout=10).json() == {"count": 2}
            assert len({node.peer_id for node in cluster}) == 3
            assert len({port for node in cluster for port in (node.rpc_port, node.swarm_port)}) == 6
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)
    inner.assert_nothing_left()


def test_embedded_auth_gives_authenticated_clients(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import requests

        def test_auth(node_cluster):
            cluster = node_cluster(count=2, auth="embedded")
            for node in cluster:
                assert node.client.peers_count() == 1
                token = node.client.token
                assert isinstance(token, str) and token.count(".") == 2
                assert requests.get(node.url + "/admin-api/peers", timeout=10).status_code == 401
                with_token = requests.get(
                    node.url + "/admin-api/peers", headers={"Authorization": f"Bearer {token}"}, timeout=10
                )
                assert with_token.json() == {"count": 1}
                assert requests.get(node.url + "/admin-api/health", timeout=10).status_code == 200
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)
    inner.assert_nothing_left()


def test_config_overrides_land_in_config_toml(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            import tomli as tomllib

        def read(node):
            return tomllib.loads((node.home / "config.toml").read_text())

        def test_overrides(node_cluster):
            cluster = node_cluster(
                count=2, config={"sync.interval_ms": 200, "server.websocket.ping_interval_secs": 7}
            )
            for node in cluster:
                config = read(node)
                assert config["sync"]["interval_ms"] == 200
                assert config["server"]["websocket"]["ping_interval_secs"] == 7
                assert config["bootstrap"]["nodes"] == [o.multiaddr for o in cluster if o is not node]
                assert config["discovery"]["rendezvous"]["namespace"].endswith(cluster.id)
                assert node.client.peers_count() == 1

        def test_e2e_defaults_without_overrides(node_cluster):
            config = read(node_cluster(count=1)[0])
            assert config["sync"]["interval_ms"] == 500
            assert config["discovery"]["mdns"] is False
            assert config["bootstrap"]["nodes"] == []
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=2)
    inner.assert_nothing_left()


def test_config_path_gives_every_node_its_own_identity_and_ports(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        try:
            import tomllib
        except ImportError:  # Python < 3.11
            import tomli as tomllib

        import pytest
        import tomli_w

        from pytest_meronodes.errors import ConfigurationError

        def read(node):
            return tomllib.loads((node.home / "config.toml").read_text())

        def test_shared_config_file(node_cluster, tmp_path, record):
            seed = node_cluster(count=1)
            data = read(seed[0])
            data["server"]["websocket"]["ping_interval_secs"] = 11
            data["discovery"]["relay"]["registrations_limit"] = 9
            custom = tmp_path / "custom.toml"
            custom.write_text(tomli_w.dumps(data))
            seed_node = seed[0]
            seed.stop()

            cluster = node_cluster(count=2, config_path=custom)
            record(cluster)
            first, second = cluster
            ports = {first.rpc_port, first.swarm_port, second.rpc_port, second.swarm_port}
            assert len(ports) == 4
            assert len({first.peer_id, second.peer_id, seed_node.peer_id}) == 3
            for node in cluster:
                config = read(node)
                assert config["identity"]["peer_id"] == node.peer_id
                assert config["server"]["websocket"]["ping_interval_secs"] == 11
                assert config["discovery"]["relay"]["registrations_limit"] == 9
                assert any(f"/tcp/{node.rpc_port}" in addr for addr in config["server"]["listen"])
                assert any(f"/tcp/{node.swarm_port}" in addr for addr in config["swarm"]["listen"])
                assert node.client.peers_count() == 1

        def test_config_file_without_required_sections(node_cluster, tmp_path):
            custom = tmp_path / "bad.toml"
            custom.write_text("[sync]\\ninterval_ms = 1\\n")
            with pytest.raises(ConfigurationError, match=r"lacks required section.*\\[swarm\\]"):
                node_cluster(count=1, config_path=custom)
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=2)
    inner.assert_nothing_left()


def test_names(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import pytest

        from pytest_meronodes.errors import ConfigurationError

        def test_named_nodes(node_cluster):
            cluster = node_cluster(count=2, names=["alice", "bob"])
            assert cluster.names == ["alice", "bob"]
            assert cluster["bob"] is cluster[1]
            assert cluster["alice"].home.name == "alice"
            assert cluster["alice"].log_path.name == "alice.log"
            assert cluster["bob"].client.peers_count() == 1
            with pytest.raises(KeyError, match="alice, bob"):
                cluster["node1"]

        @pytest.mark.parametrize("names", [["a", "a"], ["a"], ["a", "b c"]])
        def test_invalid_names(node_cluster, names):
            with pytest.raises(ConfigurationError, match="names must be 2 distinct names"):
                node_cluster(count=2, names=names)
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=4)
    inner.assert_nothing_left()


def test_log_level_sets_the_nodes_log_filter(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        def test_warn(node_cluster):
            logs = node_cluster(count=1, log_level="warn")[0].logs()
            assert "Node started successfully" not in logs
            assert " INFO " not in logs

        def test_debug(node_cluster):
            logs = node_cluster(count=1, log_level="debug")[0].logs()
            assert "Node started successfully" in logs
            assert "DEBUG calimero_server" in logs and "/admin-api/health" in logs
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=2)
    inner.assert_nothing_left()


def test_cluster_stop_stops_nodes_and_removes_homes(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        import signal

        import pytest
        import requests

        def test_stop(node_cluster, record):
            cluster = node_cluster(count=2)
            record(cluster)
            cluster.stop()
            assert cluster.stopped
            for node in cluster:
                # ended at once: nothing of a stopped cluster is kept but its logs (node.stop() is graceful)
                assert node.exit_code() == -signal.SIGKILL
                assert not node.log_path.exists()
                assert not node.home.exists()
                with pytest.raises(requests.ConnectionError):
                    requests.get(node.url + "/admin-api/health", timeout=5)
            cluster.stop()  # a second stop is harmless
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)
    inner.assert_nothing_left()


def test_session_cluster_from_the_factory_is_shared(inner: Inner) -> None:
    inner.conftest(
        """
@pytest.fixture(scope="session")
def shared(node_cluster_factory):
    return node_cluster_factory(count=2)
"""
    )
    inner.pytester.makepyfile(
        """
        def test_first(shared, record):
            record(shared)
            assert [node.client.peers_count() for node in shared] == [1, 1]

        def test_second(shared, record):
            record(shared)
            assert [node.client.peers_count() for node in shared] == [1, 1]
            assert all(node.home.is_dir() for node in shared)
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=2)
    first, second = inner.record("test_first"), inner.record("test_second")
    assert first["cluster"] == second["cluster"]
    assert first["peer_ids"] == second["peer_ids"]
    assert first["node_pids"] == second["node_pids"]
    inner.assert_nothing_left()
