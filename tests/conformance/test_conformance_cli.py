"""Section 7, checks 1, 2 and 10: `init`, `config` (a value that is not TOML is a usage error, an
unknown key is written), and `run` before init."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.simhelpers import PEER_ID_RE, Merod, free_port, read_toml


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_a_private_config_with_the_documented_keys(nodes: Merod) -> None:
    server_port, swarm_port = free_port(), free_port()
    result = nodes.cli(
        "n1",
        "init",
        "--server-host", "127.0.0.1",
        "--server-port", str(server_port),
        "--swarm-host", "127.0.0.1",
        "--swarm-port", str(swarm_port),
    )
    assert result.returncode == 0, result.stderr
    node_dir = nodes.home / "n1"
    config_path = node_dir / "config.toml"
    # the config holds the node's private key: nobody else may read it
    assert _mode(node_dir) == 0o700
    assert _mode(config_path) == 0o600
    assert (node_dir / "data").is_dir()

    config = read_toml(config_path)
    assert config["mode"] == "standard"
    identity = config["identity"]
    assert PEER_ID_RE.fullmatch(identity["peer_id"]), identity["peer_id"]
    assert isinstance(identity["keypair"], str)
    assert identity["keypair"]
    # init announces the new peer id
    assert identity["peer_id"] in result.stdout + result.stderr

    assert sorted(config["swarm"]["listen"]) == sorted(
        [f"/ip4/127.0.0.1/tcp/{swarm_port}", f"/ip4/127.0.0.1/udp/{swarm_port}/quic-v1"]
    )
    server = config["server"]
    assert server["listen"] == [f"/ip4/127.0.0.1/tcp/{server_port}"]
    assert server["auth_mode"] == "proxy"
    assert "embedded_auth" not in server
    assert server["admin"]["enabled"] is True
    assert server["jsonrpc"]["enabled"] is True
    assert server["websocket"] == {"enabled": True, "ping_interval_secs": 30, "pong_timeout_secs": 10}
    assert server["sse"]["enabled"] is True

    # the default boot network adds two public boot nodes (tests must clear them)
    boot_nodes = config["bootstrap"]["nodes"]
    assert len(boot_nodes) == 2
    assert all(addr.startswith("/") for addr in boot_nodes)
    discovery = config["discovery"]
    assert isinstance(discovery["mdns"], bool)
    assert discovery["advertise_address"] is False
    assert discovery["external_address"] == []
    assert discovery["rendezvous"] == {
        "namespace": "/calimero/devnet/global",
        "discovery_rpm": 0.5,
        "registrations_limit": 3,
        "discovery_interval": {"secs": 15, "nanos": 0},
    }
    assert discovery["relay"]["registrations_limit"] == 3
    assert config["sync"] == {
        "timeout_ms": 30000,
        "session_deadline_ms": 30000,
        "interval_ms": 5000,
        "frequency_ms": 10000,
    }
    assert config["datastore"]["path"] == "data"
    assert config["blobstore"]["path"] == "blobs"
    assert config["context"]["migration_v2"] is True


def test_init_on_an_initialised_node_exits_0_and_keeps_its_identity(nodes: Merod) -> None:
    node = nodes.init("n1")
    before = node.config_path.read_bytes()

    again = nodes.cli("n1", "init", "--server-port", str(free_port()))

    assert again.returncode == 0, again.stderr
    assert node.config_path.read_bytes() == before


def test_config_edits_dotted_keys_in_place(nodes: Merod) -> None:
    node = nodes.init("n1", boot_nodes=None)
    before = node.config()
    assert before["bootstrap"]["nodes"] != []

    result = nodes.cli(
        "n1",
        "config",
        "bootstrap.nodes=[]",
        'discovery.rendezvous.namespace="calimero/conformance/run-1"',
        "sync.interval_ms=500",
    )

    assert result.returncode == 0, result.stderr
    after = node.config()
    assert after["bootstrap"]["nodes"] == []
    assert after["discovery"]["rendezvous"]["namespace"] == "calimero/conformance/run-1"
    assert after["sync"]["interval_ms"] == 500
    # everything else is untouched, and the file stays private
    assert after["identity"] == before["identity"]
    assert after["server"] == before["server"]
    assert _mode(node.config_path) == 0o600


def test_config_with_a_value_that_is_not_toml_exits_2_and_changes_nothing(nodes: Merod) -> None:
    node = nodes.init("n1")
    before = node.config_path.read_bytes()

    result = nodes.cli("n1", "config", "bootstrap.nodes=[")

    # clap refuses the argument before merod runs: a usage error
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid value 'bootstrap.nodes=[' for '[ARGS]...': TOML parse error")
    assert node.config_path.read_bytes() == before


def test_config_with_an_unknown_key_exits_0_and_writes_it(nodes: Merod) -> None:
    node = nodes.init("n1")

    result = nodes.cli("n1", "config", "no.such.key=1")

    # merod does not check key names: a typo is written, and silently ignored by the node
    assert result.returncode == 0, result.stderr
    assert node.config()["no"] == {"such": {"key": 1}}


def test_run_before_init_exits_1(nodes: Merod) -> None:
    result = nodes.cli("never-initialised", "run", timeout=20)

    assert result.returncode == 1
    # a real merod may first print that its release check failed (no internet): that is not the error
    lines = [line for line in result.stderr.splitlines() if not line.startswith("Version check failed")]
    assert lines[0].rstrip() == "Error:", result.stderr
    assert "Node is not initialized in" in result.stderr
    assert not (nodes.home / "never-initialised" / "config.toml").exists()
