"""config.py: each option's value from the command line, the environment, the ini file or its
default (in that order), converted and checked, with errors naming the source of the value. The
same messages reach a user as `ERROR: pytest-meronodes: <message>` (tests/bad_input, end to end)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from pytest_meronodes.config import Given, MeronodesConfig, read_given, settings_from, winning
from pytest_meronodes.errors import ConfigurationError
from pytest_meronodes.options import BY_NAME, OPTIONS

DEFAULTS = MeronodesConfig(
    backend="binary", merod_binary="merod", count=1, log_level="info", startup_timeout=60.0,
    port_range=(20000, 29999), keep_nodes=False, keep_nodes_on_failure=False, base_dir=None,
    merod_image="ghcr.io/calimero-network/merod:prerelease", auth_image="ghcr.io/calimero-network/mero-auth:edge",
    traefik_image="traefik:v3.1", traefik_binary="traefik", auth_service="sim", force_pull=False,
    docker_home="volume", node_cpus=0.0, node_memory="", node_urls=(), node_username="", node_password="",
)


def given(
    cli: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None, ini: Mapping[str, Any] | None = None
) -> dict[str, Given]:
    """What each source gives, keyed by option name, as pytest hands it over: CLI values are strings
    (True/False for a bool flag, a list for a repeated one), ini values strings (a bool for a bool
    key, a list of lines for a list key), environment values strings."""
    cli, env, ini = cli or {}, env or {}, ini or {}
    return {name: Given(cli.get(name), env.get(name), ini.get(name)) for name in {*cli, *env, *ini}}


def problem(**sources: Mapping[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as raised:
        settings_from(given(**sources))
    return str(raised.value)


def test_nothing_given_is_the_documented_defaults() -> None:
    assert settings_from({}) == DEFAULTS


# -- precedence: CLI > env > ini > default ------------------------------------------------------------------
CLI = {
    "node_backend": "remote", "merod_binary": "/opt/cli/merod", "node_count": "3", "node_log_level": "debug",
    "node_startup_timeout": "7.5", "node_port_range": "30000-30099", "keep_nodes": True,
    "keep_nodes_on_failure": True, "node_base_dir": "/srv/cli-nodes", "node_url": ["http://cli-a:1", "http://cli-b:2"],
    "node_username": "cli-user", "node_password": "cli-pass",
}
FROM_CLI = {
    "backend": "remote", "merod_binary": "/opt/cli/merod", "count": 3, "log_level": "debug", "startup_timeout": 7.5,
    "port_range": (30000, 30099), "keep_nodes": True, "keep_nodes_on_failure": True,
    "base_dir": Path("/srv/cli-nodes"), "node_urls": ("http://cli-a:1", "http://cli-b:2"),
    "node_username": "cli-user", "node_password": "cli-pass",
}
ENV = {
    "node_backend": "docker", "merod_binary": "/opt/env/merod", "node_count": "4", "node_log_level": "warn",
    "node_startup_timeout": "8.5", "node_port_range": "30100-30199", "keep_nodes": "yes",
    "keep_nodes_on_failure": "on", "node_base_dir": "/srv/env-nodes", "node_url": "http://env-a:1,http://env-b:2",
    "node_username": "env-user", "node_password": "env-pass",
}
FROM_ENV = {
    "backend": "docker", "merod_binary": "/opt/env/merod", "count": 4, "log_level": "warn", "startup_timeout": 8.5,
    "port_range": (30100, 30199), "keep_nodes": True, "keep_nodes_on_failure": True,
    "base_dir": Path("/srv/env-nodes"), "node_urls": ("http://env-a:1", "http://env-b:2"),
    "node_username": "env-user", "node_password": "env-pass",
}
# booleans switched off in the environment: the environment must beat an ini that says "true"
ENV_OFF = {**ENV, "keep_nodes": "0", "keep_nodes_on_failure": "false"}
FROM_ENV_OFF = {**FROM_ENV, "keep_nodes": False, "keep_nodes_on_failure": False}
INI = {
    "node_backend": "remote", "merod_binary": "/opt/ini/merod", "node_count": "5", "node_log_level": "error",
    "node_startup_timeout": "9.5", "node_port_range": "30200-30299", "keep_nodes": True,
    "keep_nodes_on_failure": True, "node_base_dir": "/srv/ini-nodes", "node_url": ["http://ini-a:1", "http://ini-b:2"],
    "node_username": "ini-user", "node_password": "ini-pass",
}
FROM_INI = {
    "backend": "remote", "merod_binary": "/opt/ini/merod", "count": 5, "log_level": "error", "startup_timeout": 9.5,
    "port_range": (30200, 30299), "keep_nodes": True, "keep_nodes_on_failure": True,
    "base_dir": Path("/srv/ini-nodes"), "node_urls": ("http://ini-a:1", "http://ini-b:2"),
    "node_username": "ini-user", "node_password": "ini-pass",
}


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        pytest.param({}, {}, {}, {}, id="defaults"),
        pytest.param(CLI, {}, {}, FROM_CLI, id="cli"),
        pytest.param({}, ENV, {}, FROM_ENV, id="env"),
        pytest.param({}, {}, INI, FROM_INI, id="ini"),
        pytest.param(CLI, ENV, INI, FROM_CLI, id="cli-beats-env-and-ini"),
        pytest.param({}, ENV_OFF, INI, FROM_ENV_OFF, id="env-beats-ini"),
    ],
)
def test_every_option_from_every_source(
    cli: dict[str, Any], env: dict[str, str], ini: dict[str, Any], expected: dict[str, Any]
) -> None:
    settings = settings_from(given(cli, env, ini))
    assert settings == dataclasses.replace(DEFAULTS, **expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(Given(cli="3", env="4", ini="5"), ("3", "--node-count"), id="cli"),
        pytest.param(Given(env="4", ini="5"), ("4", "MERONODES_NODE_COUNT"), id="env"),
        pytest.param(Given(env="", ini="5"), ("5", "ini node_count"), id="empty-env-is-unset"),
        pytest.param(Given(ini="5"), ("5", "ini node_count"), id="ini"),
        pytest.param(Given(ini=""), ("1", "default"), id="empty-ini-is-unset"),
        pytest.param(Given(), ("1", "default"), id="default"),
    ],
)
def test_the_winning_value_and_its_source(source: Given, expected: tuple[str, str]) -> None:
    assert winning(BY_NAME["node_count"], source) == expected


@pytest.mark.parametrize(
    ("source", "name"),
    [(Given(cli="0", ini="2"), "--node-count"), (Given(env="0", ini="2"), "MERONODES_NODE_COUNT"),
     (Given(ini="0"), "ini node_count")],
)
def test_an_error_names_the_source_of_the_value(source: Given, name: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings_from({"node_count": source})
    assert str(raised.value) == f"{name}: node count must be at least 1"


def test_the_command_line_switches_off_what_the_environment_switched_on() -> None:
    """`--no-keep-nodes` gives False: a value, not an absent flag."""
    assert settings_from({"keep_nodes": Given(cli=False, env="1", ini=True)}).keep_nodes is False


def test_an_empty_list_on_the_command_line_is_no_value() -> None:
    assert settings_from({"node_url": Given(cli=[], env="http://a:1")}).node_urls == ("http://a:1",)


def test_an_ini_value_pytest_cannot_read_matters_only_when_nothing_beats_it() -> None:
    unreadable = "invalid truth value 'perhaps'"
    with pytest.raises(ConfigurationError) as raised:
        settings_from({"keep_nodes": Given(ini_error=unreadable)})
    assert str(raised.value) == "ini keep_nodes: invalid truth value 'perhaps'; use true or false"
    with pytest.raises(ConfigurationError) as raised:  # no true/false hint for a value that is no bool
        settings_from({"node_url": Given(ini_error="expects a list")})
    assert str(raised.value) == "ini node_url: expects a list"
    assert settings_from({"keep_nodes": Given(cli=True, ini_error=unreadable)}).keep_nodes is True
    assert settings_from({"keep_nodes": Given(env="off", ini_error=unreadable)}).keep_nodes is False


# -- conversion ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "value"), [
    *[(text, True) for text in ("1", "true", "TRUE", " yes ", "on")],
    *[(text, False) for text in ("0", "false", "False", "no", "off", " ")],
])
def test_bool_texts(text: str, value: bool) -> None:
    assert settings_from(given(ini={"force_pull": text})).force_pull is value


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        pytest.param({"env": {"node_count": "many"}},
                     "MERONODES_NODE_COUNT: 'many' is not a valid int for --node-count", id="int"),
        pytest.param({"cli": {"node_count": "2.5"}}, "--node-count: '2.5' is not a valid int for --node-count",
                     id="int-not-float"),
        pytest.param({"ini": {"node_cpus": "two"}}, "ini node_cpus: 'two' is not a valid float for --node-cpus",
                     id="float"),
        pytest.param({"env": {"keep_nodes": "perhaps"}},
                     "MERONODES_KEEP_NODES: 'perhaps' is not a valid bool for --keep-nodes", id="bool"),
    ],
)
def test_a_value_of_the_wrong_kind(sources: dict[str, dict[str, Any]], message: str) -> None:
    assert problem(**sources) == message


def test_list_items_are_stripped_and_empty_ones_dropped() -> None:
    assert settings_from(given(ini={"node_url": [" http://a:1 ", "", "http://b:2"]})).node_urls == (
        "http://a:1", "http://b:2",
    )
    assert settings_from(given(env={"node_url": "http://a:1, ,http://b:2"})).node_urls == ("http://a:1", "http://b:2")


def test_values_are_cleaned_up() -> None:
    settings = settings_from(given(cli={"node_port_range": " 30000 - 30099 ", "node_memory": " 512m ",
                                        "node_log_level": " debug ", "node_url": ["http://a:1/"]}))
    assert settings.port_range == (30000, 30099)
    assert settings.node_memory == "512m"
    assert settings.log_level == "debug"
    assert settings.node_urls == ("http://a:1",)


def test_the_base_dir_expands_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings_from(given(env={"node_base_dir": "~/nodes"})).base_dir == tmp_path / "nodes"
    assert not (tmp_path / "nodes").exists()  # checked, not created


def test_the_password_is_never_shown() -> None:
    settings = settings_from(given(env={"node_password": "s3cret-pw", "node_username": "admin"}))
    assert settings.node_password == "s3cret-pw"
    assert "s3cret-pw" not in repr(settings)
    assert "node_password=***" in repr(settings)


def test_credentials_are_checked_for_the_remote_backend_only() -> None:
    assert settings_from(given(cli={"node_username": "admin"})).node_username == "admin"


# -- every usage error, as a user sees it after `ERROR: pytest-meronodes: ` --------------------------------------
REMOTE = {"node_backend": "remote", "node_url": ["http://127.0.0.1:2528"]}
LOG_LEVEL_HELP = (
    "give a level (error, warn, info, debug, trace, off) or target=level directives separated by commas, e.g. "
    "info,calimero_node=debug"
)
USAGE_ERRORS = [
    pytest.param({"cli": {"node_backend": "kubernetes"}},
                 "--node-backend: unknown backend 'kubernetes'; choose one of binary, docker, remote", id="backend"),
    pytest.param({"env": {"node_backend": "kubernetes"}},
                 "MERONODES_NODE_BACKEND: unknown backend 'kubernetes'; choose one of binary, docker, remote",
                 id="backend-env"),
    pytest.param({"ini": {"node_backend": "kubernetes"}},
                 "ini node_backend: unknown backend 'kubernetes'; choose one of binary, docker, remote",
                 id="backend-ini"),
    pytest.param({"cli": {"node_port_range": "29000:29001"}},
                 "--node-port-range: port range '29000:29001' must look like 20000-29999", id="port-range-syntax"),
    pytest.param({"ini": {"node_port_range": "30000"}},
                 "ini node_port_range: port range '30000' must look like 20000-29999", id="port-range-one-number"),
    pytest.param({"cli": {"node_port_range": "29001-29000"}},
                 "--node-port-range: port range '29001-29000' must lie within 1024-65535, low to high",
                 id="port-range-reversed"),
    pytest.param({"cli": {"node_port_range": "900-1000"}},
                 "--node-port-range: port range '900-1000' must lie within 1024-65535, low to high",
                 id="port-range-low"),
    pytest.param({"cli": {"node_port_range": "65535-65536"}},
                 "--node-port-range: port range '65535-65536' must lie within 1024-65535, low to high",
                 id="port-range-high"),
    pytest.param({"cli": {"node_port_range": "29000-29000"}},
                 "--node-port-range: port range '29000-29000' holds 1 port; a node needs 2 (server and swarm)",
                 id="port-range-one-port"),
    pytest.param({"cli": {"node_startup_timeout": "nan"}},
                 "--node-startup-timeout: startup timeout must be positive and finite, in seconds (at most 86400), "
                 "got nan", id="startup-timeout-nan"),
    pytest.param({"env": {"node_startup_timeout": "inf"}},
                 "MERONODES_NODE_STARTUP_TIMEOUT: startup timeout must be positive and finite, in seconds (at most "
                 "86400), got inf", id="startup-timeout-inf-env"),
    pytest.param({"ini": {"node_startup_timeout": "0"}},
                 "ini node_startup_timeout: startup timeout must be positive and finite, in seconds (at most 86400), "
                 "got 0.0", id="startup-timeout-zero-ini"),
    pytest.param({"cli": {"node_startup_timeout": "-1"}},
                 "--node-startup-timeout: startup timeout must be positive and finite, in seconds (at most 86400), "
                 "got -1.0", id="startup-timeout-negative"),
    pytest.param({"cli": {"node_cpus": "-1"}},
                 "--node-cpus: node cpus must be 0 (no cap) or a number of CPUs of at least 0.01, got -1.0",
                 id="node-cpus-negative"),
    pytest.param({"env": {"node_cpus": "nan"}},
                 "MERONODES_NODE_CPUS: node cpus must be 0 (no cap) or a number of CPUs of at least 0.01, got nan",
                 id="node-cpus-nan"),
    pytest.param({"cli": {"node_memory": "1t"}},
                 "--node-memory: node memory '1t' is not in Docker's format: a number and a unit b, k, m or g, e.g. "
                 "512m (empty: no cap)", id="node-memory-format"),
    pytest.param({"cli": {"node_memory": "4m"}},
                 "--node-memory: node memory '4m' is below Docker's minimum of 6m; give e.g. 512m (empty: no cap)",
                 id="node-memory-below-minimum"),
    pytest.param({"cli": {"node_log_level": ""}}, f"--node-log-level: log level '' is empty; {LOG_LEVEL_HELP}",
                 id="log-level-empty"),
    pytest.param({"env": {"node_log_level": "verbose"}},
                 "MERONODES_NODE_LOG_LEVEL: log level 'verbose' is not RUST_LOG syntax: 'verbose' is not a level; "
                 f"{LOG_LEVEL_HELP}", id="log-level-not-a-level"),
    pytest.param({"cli": {"node_log_level": "info,calimero-node=debug"}},
                 "--node-log-level: log level 'info,calimero-node=debug' is not RUST_LOG syntax: 'calimero-node' is "
                 f"not a target (a Rust module path such as calimero_node::sync); {LOG_LEVEL_HELP}",
                 id="log-level-bad-target"),
    pytest.param({"cli": {"node_url": ["localhost:2528"]}},
                 "--node-url: node URL 'localhost:2528' must start with http:// or https://, e.g. "
                 "http://127.0.0.1:2528", id="node-url-no-scheme"),
    pytest.param({"cli": {"node_url": ["ws://127.0.0.1:2528"]}},
                 "--node-url: node URL 'ws://127.0.0.1:2528' must start with http:// or https://, e.g. "
                 "http://127.0.0.1:2528", id="node-url-scheme"),
    pytest.param({"cli": {"node_url": ["http://127.0.0.1:2528/admin-api"]}},
                 "--node-url: node URL 'http://127.0.0.1:2528/admin-api' has a path; give the node's root URL, e.g. "
                 "http://127.0.0.1:2528", id="node-url-path"),
    pytest.param({"env": {"node_url": "http://127.0.0.1:2528,http://127.0.0.1:2529?x=1"}},
                 "MERONODES_NODE_URL: node URL 'http://127.0.0.1:2529?x=1' has a query; give the node's root URL, e.g. "
                 "http://127.0.0.1:2529", id="node-url-query-env"),
    pytest.param({"cli": {"node_url": ["http://:2528"]}},
                 "--node-url: node URL 'http://:2528' names no host; e.g. http://127.0.0.1:2528",
                 id="node-url-no-host"),
    pytest.param({"cli": {"node_url": ["http://127.0.0.1:99999"]}},
                 "--node-url: node URL 'http://127.0.0.1:99999' has an invalid port; give 1-65535, e.g. "
                 "http://127.0.0.1:2528", id="node-url-port"),
    pytest.param({"cli": {"node_url": ["http://127.0.0.1:2528", "http://127.0.0.1:2528/"]}},
                 "--node-url: node URL 'http://127.0.0.1:2528' is given twice; each remote node needs its own URL",
                 id="node-url-twice"),
    pytest.param({"cli": {**REMOTE, "node_username": "admin"}},
                 "--node-username: user 'admin' has no password; set MERONODES_NODE_PASSWORD (or --node-password, "
                 "which shows in process lists)", id="username-without-password"),
    pytest.param({"cli": {"merod_binary": ""}},
                 "--merod-binary: an empty value; give a path, a name on PATH, or 'sim' (the simulator), or leave the "
                 "option out (default: merod)", id="merod-binary-empty"),
    pytest.param({"cli": {"merod_image": ""}},
                 "--merod-image: an empty value; give a Docker image, or leave the option out (default: "
                 "ghcr.io/calimero-network/merod:prerelease)", id="merod-image-empty"),
    pytest.param({"ini": {"auth_service": " "}},
                 "ini auth_service: an empty value; give a path, a name on PATH, or 'sim' (the simulator's auth "
                 "mode), or leave the option out (default: sim)", id="auth-service-blank"),
    pytest.param({"cli": {"traefik_image": "traefik v3"}},
                 "--traefik-image: Docker image 'traefik v3' contains whitespace; give an image reference such as "
                 "traefik:v3.1", id="image-with-whitespace"),
    pytest.param({"cli": {"docker_home": "tmpfs"}}, "--docker-home: docker home 'tmpfs' must be 'volume' or 'bind'",
                 id="docker-home"),
    pytest.param({"cli": {"node_count": "0"}}, "--node-count: node count must be at least 1", id="node-count-zero"),
]


@pytest.mark.parametrize(("sources", "message"), USAGE_ERRORS)
def test_usage_errors(sources: dict[str, dict[str, Any]], message: str) -> None:
    assert problem(**sources) == message


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        pytest.param({"cli": {"node_url": ["http://admin:hunter2-pw@127.0.0.1:2528"]}},
                     "--node-url: node URL http://<credentials>@127.0.0.1:2528 carries credentials; set "
                     "--node-username and MERONODES_NODE_PASSWORD instead", id="node-url-credentials"),
        pytest.param({"cli": REMOTE, "env": {"node_password": "s3cret-pw-4711"}},
                     "MERONODES_NODE_PASSWORD: a password is set but no user name; set --node-username "
                     "(MERONODES_NODE_USERNAME, ini node_username)", id="password-without-username"),
    ],
)
def test_usage_errors_never_show_a_password(sources: dict[str, dict[str, Any]], message: str) -> None:
    """The password (hunter2-pw, s3cret-pw-4711) is not in the message, which is exactly this."""
    assert problem(**sources) == message


def test_a_base_dir_that_cannot_hold_homes(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory\n")
    assert problem(cli={"node_base_dir": f"{tmp_path}/a-file/nodes"}) == (
        f"--node-base-dir: node base dir '{tmp_path}/a-file/nodes' cannot be created: '{tmp_path}/a-file' is not a "
        "writable directory (not a directory); give a directory you can write to, or leave it unset for the default"
    )


# -- the thin reader of pytest's Config ------------------------------------------------------------------------
class FakeConfig:
    """What read_given asks of pytest.Config: getoption() and getini()."""

    def __init__(self, options: dict[str, Any], ini: dict[str, Any], unreadable: set[str]) -> None:
        self.options, self.ini, self.unreadable = options, ini, unreadable

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def getini(self, name: str) -> Any:
        if name in self.unreadable:
            raise pytest.UsageError(f"{name}: invalid truth value 'perhaps'")
        return self.ini.get(name, "")


def test_read_given_hands_over_each_source_as_is() -> None:
    config = FakeConfig({"node_count": "3", "keep_nodes": False}, {"node_url": ["http://a:1"]}, {"force_pull"})
    read = read_given(cast(pytest.Config, config), {"MERONODES_NODE_COUNT": "4", "OTHER": "x"})
    assert set(read) == {spec.name for spec in OPTIONS}
    assert read["node_count"] == Given(cli="3", env="4", ini="")
    assert read["keep_nodes"] == Given(cli=False, env=None, ini="")
    assert read["node_url"] == Given(cli=None, env=None, ini=["http://a:1"])
    assert read["force_pull"] == Given(ini_error="force_pull: invalid truth value 'perhaps'")
