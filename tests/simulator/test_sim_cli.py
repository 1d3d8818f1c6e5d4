"""The simulator's command line beyond section 7: version, aliases, usage errors, --force,
corrupt or incomplete configs, config validation, admin passwords and credentials from the
environment, log lines, and `run --exit-on-eof`."""

from __future__ import annotations

import subprocess
import time

import pytest
import tomli_w

from tests.simhelpers import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    PEER_ID_RE,
    SIM_COMMAND,
    Merod,
    clean_env,
    free_port,
    poll_until,
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
    assert result.stdout.startswith("merod 0.11.0-rc.25 (")
    assert "simulator" in result.stdout


def test_the_version_can_be_another_release_for_the_plugins_version_checks(sim: Merod) -> None:
    result = sim.cli(None, "--version", env={"MEROD_SIM_VERSION": "0.10.1-rc.5"})

    assert result.returncode == 0
    assert result.stdout.startswith("merod 0.10.1-rc.5 (")
    assert "simulator" in result.stdout


def test_the_flags_follow_the_release_it_plays(sim: Merod) -> None:
    # `--node` replaced `--node-name` in 0.10.0-rc.38; `run --exit-on-eof` came in 0.11.0-rc.23
    old = {"MEROD_SIM_VERSION": "0.10.0-rc.30"}
    refused = sim.cli("legacy", "init", *_ports(), node_flag="--node-name")
    accepted = sim.cli("legacy", "init", *_ports(), node_flag="--node-name", env=old)
    new_flag_on_old = sim.cli("legacy", "init", *_ports(), env=old)
    eof_on_old = sim.cli("legacy", "run", "--exit-on-eof", "0", env={"MEROD_SIM_VERSION": "0.11.0-rc.22"})

    assert (refused.returncode, refused.stderr.splitlines()[0]) == (2, "error: unexpected argument '--node-name' found")
    assert accepted.returncode == 0, accepted.stderr
    assert (sim.home / "legacy" / "config.toml").is_file()
    assert new_flag_on_old.stderr.startswith("error: unexpected argument '--node' found")
    assert eof_on_old.stderr.startswith("error: unexpected argument '--exit-on-eof' found")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        pytest.param(("init", "--server-port", "not-a-port"),
                     "error: invalid value 'not-a-port' for '--server-port <PORT>': invalid digit found in string",
                     id="bad-int"),
        pytest.param(("init", "--auth-mode", "none"), "error: invalid value 'none' for '--auth-mode <AUTH_MODE>'",
                     id="no-such-auth-mode"),
        pytest.param(("frobnicate",), "error: unrecognized subcommand 'frobnicate'", id="unknown-command"),
        pytest.param(("init", "--no-such-flag"), "error: unexpected argument '--no-such-flag' found",
                     id="unknown-flag"),
        pytest.param(("config", "sync.interval_ms"),
                     "error: invalid value 'sync.interval_ms' for '[ARGS]...': Missing value", id="no-equals"),
    ],
)
def test_usage_errors_exit_2_with_clap_words(sim: Merod, args: tuple[str, ...], said: str) -> None:
    result = sim.cli("n1", *args)

    assert result.returncode == 2
    assert result.stderr.startswith(said)
    assert result.stderr.endswith("For more information, try '--help'.\n")
    assert not (sim.home / "n1").exists()


def test_a_missing_node_name_is_a_usage_error(sim: Merod) -> None:
    result = sim.cli(None, "init")

    assert result.returncode == 2
    assert "--node" in result.stderr


def test_init_logs_as_merod_does(sim: Merod) -> None:
    first = sim.cli("n1", "init", *_ports())
    again = sim.cli("n1", "init", *_ports())

    node_dir = sim.home / "n1"
    peer_id = read_toml(node_dir / "config.toml")["identity"]["peer_id"]
    assert f' INFO merod::cli::init: Generated identity: PeerId("{peer_id}")' in first.stdout
    assert f' INFO merod::cli::init: Initialized a node in "{node_dir}"' in first.stdout
    assert f' WARN merod::cli::init: Node is already initialized in "{node_dir}"' in again.stdout
    assert again.returncode == 0


def test_errors_are_reported_as_an_eyre_chain(sim: Merod) -> None:
    result = sim.cli("n1", "run", timeout=20)

    assert result.returncode == 1
    assert result.stderr.startswith(f'Error:\n   0: Node is not initialized in "{sim.home / "n1"}"\n')


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
    assert "Failed to load existing configuration" in refused.stderr
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
    assert "missing field `sync`" in result.stderr


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
        assert "Password must be at least 8 characters long" in result.stderr


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
    assert 'invalid type: string "fast", expected u64' in result.stderr
    assert 'interval_ms = "fast"' in result.stderr, "the toml crate shows the offending line"
    assert node.config_path.read_bytes() == before


def test_config_refuses_a_value_out_of_merods_limits(sim: Merod) -> None:
    node = sim.init("n1")
    before = node.config_path.read_bytes()

    result = sim.cli("n1", "config", "sync.interval_ms=50")

    assert result.returncode == 1
    assert "   0: Limit values validation failed\n" in result.stderr
    assert "   1: sync.interval (50ms) is below minimum allowed value (100ms)\n" in result.stderr
    assert node.config_path.read_bytes() == before


def test_config_with_a_value_that_is_not_toml_is_a_usage_error(sim: Merod) -> None:
    node = sim.init("n1")
    before = node.config_path.read_bytes()

    result = sim.cli("n1", "config", "bootstrap.nodes=[")

    assert result.returncode == 2
    assert result.stderr.startswith(
        "error: invalid value 'bootstrap.nodes=[' for '[ARGS]...': TOML parse error at line 1, column 2\n"
    )
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


def test_memory_storage_takes_its_admin_from_the_environment_at_every_start(sim: Merod) -> None:
    # merod: in-memory storage holds no persistent account, so credentials at init are ignored
    node = sim.init("n1", "--auth-mode", "embedded", "--auth-storage", "memory",
                    "--admin-user", ADMIN_USER, "--admin-password-stdin", stdin=ADMIN_PASSWORD + "\n")
    assert node.config()["server"]["embedded_auth"]["storage"] == {"type": "memory"}
    without = sim.start(node)
    refused = without.post("/auth/token", json=token_request(node.url))
    without.stop()

    running = sim.start(node, env={"MERO_AUTH_ADMIN_USER": ADMIN_USER, "MERO_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD})
    response = running.post("/auth/token", json=token_request(node.url))

    assert refused.status_code == 401
    assert response.status_code == 200, response.text


def test_embedded_init_with_no_admin_defers_the_account(sim: Merod) -> None:
    result = sim.cli("n1", "init", *_ports(), "--auth-mode", "embedded", "--no-admin")

    assert result.returncode == 0, result.stderr
    assert "No admin account will be created" in result.stdout


def test_config_refuses_a_malformed_multiaddr(sim: Merod) -> None:
    node = sim.init("n1")
    before = node.config_path.read_bytes()

    result = sim.cli("n1", "config", 'server.listen=["/ip4/127.0.0.1/tcp/http"]')

    assert result.returncode == 1
    # the network sections are flattened into merod's config: the toml crate points at line 1
    assert "   0: TOML parse error at line 1, column 1\n" in result.stderr
    assert "failed to parse: invalid digit found in string" in result.stderr
    assert node.config_path.read_bytes() == before


def test_a_config_without_an_identity_runs_with_a_fresh_one(sim: Merod) -> None:
    # merod's ConfigFile defaults a missing [identity] to a new key, for that run only
    node = sim.init("n1")
    old_peer_id = node.peer_id
    config = node.config()
    del config["identity"]
    node.config_path.write_bytes(tomli_w.dumps(config).encode())

    running = sim.start(node)

    peer_ids = PEER_ID_RE.findall(running.log_text())
    assert peer_ids
    assert old_peer_id not in peer_ids
    assert "identity" not in node.config()


def test_exit_on_eof_stops_the_node_when_its_parent_goes_away(sim: Merod) -> None:
    node = sim.init("n1")
    log_path = sim.logs / "eof.log"
    sim.logs.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*SIM_COMMAND, "--home", str(sim.home), "--node", "n1", "run", "--exit-on-eof", "0"],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=clean_env(),
        )
        try:
            poll_until(lambda: "Node started successfully" in log_path.read_text(), timeout=30,
                       what="the node to start")
            assert process.stdin is not None
            process.stdin.write(b"anything the parent writes is ignored\n")
            process.stdin.flush()
            time.sleep(0.3)
            assert process.poll() is None, "data down the pipe is not an EOF"

            process.stdin.close()  # what the kernel does when the parent exits
            code = process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    lines = log_path.read_text().splitlines()
    assert code == 0
    assert any(" WARN merod::cli::run: the process that started this node exited; shutting down" in line
               for line in lines)
    assert "Shutting down; draining before exit cause=ParentExited" in log_path.read_text()
    assert lines[-1].endswith(" INFO calimero_node::run: Node shutdown complete")
    assert node.name == "n1"
