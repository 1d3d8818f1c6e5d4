"""The simulator's command line beyond section 7: version, aliases, usage errors, --force,
corrupt or incomplete configs, admin passwords and credentials from the environment."""

from __future__ import annotations

import pytest
import tomli_w

from tests.simhelpers import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    PEER_ID_RE,
    Merod,
    free_port,
    read_toml,
    token_request,
)


def _ports() -> list[str]:
    return [
        "--server-host", "127.0.0.1",
        "--server-port", str(free_port()),
        "--swarm-host", "127.0.0.1",
        "--swarm-port", str(free_port()),
    ]


def test_version_says_it_is_the_simulator(sim: Merod) -> None:
    result = sim.cli(None, "--version")

    assert result.returncode == 0
    # the plugin parses the first line as merod's, and users must see it is not the real one
    assert result.stdout.startswith("merod 0.")
    assert "simulator" in result.stdout


def test_the_old_node_name_flag_still_works(sim: Merod) -> None:
    result = sim.cli("legacy", "init", *_ports(), node_flag="--node-name")

    assert result.returncode == 0, result.stderr
    assert (sim.home / "legacy" / "config.toml").is_file()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("init", "--server-port", "not-a-port"), id="bad-int"),
        pytest.param(("init", "--auth-mode", "none"), id="no-such-auth-mode"),
        pytest.param(("frobnicate",), id="unknown-command"),
        pytest.param(("init", "--no-such-flag"), id="unknown-flag"),
    ],
)
def test_usage_errors_exit_2(sim: Merod, args: tuple[str, ...]) -> None:
    result = sim.cli("n1", *args)

    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert not (sim.home / "n1").exists()


def test_a_missing_node_name_is_a_usage_error(sim: Merod) -> None:
    result = sim.cli(None, "init")

    assert result.returncode == 2
    assert "--node" in result.stderr


def test_force_reinitialises_with_a_new_identity(sim: Merod) -> None:
    node = sim.init("n1")
    old_peer_id = node.peer_id
    marker = sim.home / "n1" / "data" / "leftover"
    marker.write_text("from the previous life")

    result = sim.cli("n1", "init", "--force", *_ports())

    assert result.returncode == 0, result.stderr
    assert PEER_ID_RE.fullmatch(node.peer_id)
    assert node.peer_id != old_peer_id
    assert not marker.exists(), "--force wipes the node directory"


def test_a_corrupt_config_needs_force(sim: Merod) -> None:
    node = sim.init("n1")
    node.config_path.write_text("this is [not toml")

    refused = sim.cli("n1", "init", *_ports())
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    assert node.config_path.read_text() == "this is [not toml"

    forced = sim.cli("n1", "init", "--force", *_ports())
    assert forced.returncode == 0, forced.stderr
    assert PEER_ID_RE.fullmatch(node.peer_id)


def test_run_refuses_a_config_missing_a_required_section(sim: Merod) -> None:
    node = sim.init("n1")
    config = node.config()
    del config["sync"]
    node.config_path.write_bytes(tomli_w.dumps(config).encode())

    result = sim.cli("n1", "run", timeout=20)

    assert result.returncode == 1
    assert "sync" in result.stderr


@pytest.mark.parametrize(("password", "code"), [("7-chars", 1), ("8-chars!", 0)])
def test_admin_password_needs_at_least_8_characters(sim: Merod, password: str, code: int) -> None:
    result = sim.cli(
        "n1",
        "init",
        *_ports(),
        "--auth-mode", "embedded",
        "--admin-user", ADMIN_USER,
        "--admin-password-stdin",
        stdin=password + "\n",
    )

    assert result.returncode == code, result.stderr
    if code:
        assert "8" in result.stderr


def test_unknown_config_keys_are_kept_and_ignored(sim: Merod) -> None:
    node = sim.init("n1")

    sim.cli_ok("n1", "config", "future.feature=true")

    assert node.config()["future"] == {"feature": True}
    assert sim.start(node).get("/admin-api/health").status_code == 200


def test_config_refuses_a_value_of_the_wrong_type(sim: Merod) -> None:
    node = sim.init("n1")
    before = node.config_path.read_bytes()

    result = sim.cli("n1", "config", 'sync.interval_ms="fast"')

    assert result.returncode == 1
    assert "sync.interval_ms" in result.stderr
    assert node.config_path.read_bytes() == before


def test_admin_credentials_from_the_environment_at_init(sim: Merod) -> None:
    user, password = "env-admin", "env-password-123"
    node = sim.init(
        "n1",
        "--auth-mode", "embedded",
        env={"MERO_AUTH_ADMIN_USER": user, "MERO_AUTH_ADMIN_PASSWORD": password},
    )
    assert read_toml(node.config_path)["server"]["auth_mode"] == "embedded"

    # run without the variables: the account was minted at init
    running = sim.start(node)

    good = running.post("/auth/token", json=token_request(node.url, username=user, password=password))
    bad = running.post("/auth/token", json=token_request(node.url, username=ADMIN_USER, password=ADMIN_PASSWORD))
    assert good.status_code == 200, good.text
    assert bad.status_code == 401


def test_the_admin_minted_at_init_can_log_in_with_memory_storage(sim: Merod) -> None:
    node = sim.init(
        "n1",
        "--auth-mode", "embedded",
        "--auth-storage", "memory",
        "--admin-user", ADMIN_USER,
        "--admin-password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    running = sim.start(node)

    response = running.post("/auth/token", json=token_request(node.url))

    assert response.status_code == 200, response.text


def test_config_refuses_a_malformed_multiaddr(sim: Merod) -> None:
    node = sim.init("n1")
    before = node.config_path.read_bytes()

    result = sim.cli("n1", "config", 'server.listen=["/ip4/127.0.0.1/tcp/http"]')

    assert result.returncode == 1
    assert "server.listen" in result.stderr
    assert node.config_path.read_bytes() == before


def test_run_without_an_identity_fails_cleanly(sim: Merod) -> None:
    node = sim.init("n1")
    config = node.config()
    del config["identity"]
    node.config_path.write_bytes(tomli_w.dumps(config).encode())

    result = sim.cli("n1", "run", timeout=20)

    assert result.returncode == 1
    assert "identity" in result.stderr
    assert "Traceback" not in result.stderr
