"""The order in which a node's config.toml is composed, as a user relies on it."""

from __future__ import annotations

import pytest

from tests.simhelpers import SIM

from .support import Inner


def test_a_custom_config_wins_over_e2e_defaults_but_not_over_identity_ports_bootstrap_or_overrides(
    inner: Inner,
) -> None:
    inner.pytester.makepyfile(
        """
        import sys
        if sys.version_info >= (3, 11):
            import tomllib
        else:
            import tomli as tomllib
        import tomli_w

        def test_layers(node_cluster, tmp_path):
            custom = tmp_path / "custom.toml"
            custom.write_text(tomli_w.dumps({
                "identity": {"peer_id": "12D3KooWnotmine", "keypair": "x"},
                "swarm": {"listen": ["/ip4/127.0.0.1/tcp/1"]},
                "server": {"listen": ["/ip4/127.0.0.1/tcp/2"], "admin": {"enabled": True}},
                "bootstrap": {"nodes": ["/ip4/127.0.0.1/tcp/3/p2p/12D3KooWnotmine"]},
                "discovery": {"mdns": True, "rendezvous": {"namespace": "mine"}},
                "sync": {"interval_ms": 777, "frequency_ms": 888, "timeout_ms": 30000},
                "datastore": {"path": "data"}, "blobstore": {"path": "blobs"}, "context": {},
            }))
            cluster = node_cluster(count=2, config_path=custom, config={"sync.frequency_ms": 999})
            configs = [tomllib.loads((node.home / "config.toml").read_text()) for node in cluster]
            for node, config in zip(cluster, configs):
                assert config["identity"]["peer_id"] == node.peer_id      # init's
                assert config["server"]["listen"] == [f"/ip4/127.0.0.1/tcp/{node.rpc_port}"]
                assert config["sync"]["interval_ms"] == 777               # the file beats the E2E default
                assert config["discovery"]["mdns"] is True                # the file's choice
                assert config["sync"]["frequency_ms"] == 999              # overrides beat the file
                assert config["bootstrap"]["nodes"] == [other.multiaddr for other in cluster if other is not node]
            assert [node.client.peers_count() for node in cluster] == [1, 1]
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("flag", ["--no-keep-nodes"])
def test_a_bool_option_switched_on_in_env_can_be_switched_off_on_the_command_line(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setenv("MERONODES_KEEP_NODES", "1")
    inner.pytester.makepyfile(
        """
        def test_setting(meronodes_config):
            assert meronodes_config.keep_nodes is False
        """
    )
    inner.run(SIM, flag).assert_outcomes(passed=1)
