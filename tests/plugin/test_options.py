"""Options: each one from the command line, the environment and the ini file, in that order of
precedence; what each one changes; the pytest header and --help."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from pytest_meronodes.options import OPTIONS
from tests.simhelpers import SIM, SIM_VERSION

from .support import (
    Inner,
    assert_nothing_left,
    cmdline,
    kept_nodes,
    processes_under,
    recording_merod,
    stop_pids,
)

# -- every option, from every source ----------------------------------------------------------------
DUMP_CONFIG = """
    import dataclasses
    import json
    import os

    def test_dump(meronodes_config):
        values = {f.name: getattr(meronodes_config, f.name) for f in dataclasses.fields(meronodes_config)}
        with open(os.path.join(os.path.dirname(os.environ["PLUGIN_TEST_RECORD"]), "config.json"), "w") as handle:
            json.dump(values, handle, default=str)
"""

CLI = [
    "--node-backend=remote",
    "--merod-binary=/opt/cli/merod",
    "--node-count=3",
    "--node-log-level=debug",
    "--node-startup-timeout=7.5",
    "--node-port-range=30000-30099",
    "--keep-nodes",
    "--keep-nodes-on-failure",
    "--node-base-dir=/srv/cli-nodes",
    "--node-url=http://cli-a:1",
    "--node-url=http://cli-b:2",
    "--node-username=cli-user",
    "--node-password=cli-pass",
]
FROM_CLI = {
    "backend": "remote",
    "merod_binary": "/opt/cli/merod",
    "count": 3,
    "log_level": "debug",
    "startup_timeout": 7.5,
    "port_range": [30000, 30099],
    "keep_nodes": True,
    "keep_nodes_on_failure": True,
    "base_dir": "/srv/cli-nodes",
    "node_urls": ["http://cli-a:1", "http://cli-b:2"],
    "node_username": "cli-user",
    "node_password": "cli-pass",
}
ENV = {
    "MERONODES_NODE_BACKEND": "docker",
    "MERONODES_MEROD_BINARY": "/opt/env/merod",
    "MERONODES_NODE_COUNT": "4",
    "MERONODES_NODE_LOG_LEVEL": "warn",
    "MERONODES_NODE_STARTUP_TIMEOUT": "8.5",
    "MERONODES_NODE_PORT_RANGE": "30100-30199",
    "MERONODES_KEEP_NODES": "yes",
    "MERONODES_KEEP_NODES_ON_FAILURE": "on",
    "MERONODES_NODE_BASE_DIR": "/srv/env-nodes",
    "MERONODES_NODE_URL": "http://env-a:1,http://env-b:2",
    "MERONODES_NODE_USERNAME": "env-user",
    "MERONODES_NODE_PASSWORD": "env-pass",
}
FROM_ENV = {
    "backend": "docker",
    "merod_binary": "/opt/env/merod",
    "count": 4,
    "log_level": "warn",
    "startup_timeout": 8.5,
    "port_range": [30100, 30199],
    "keep_nodes": True,
    "keep_nodes_on_failure": True,
    "base_dir": "/srv/env-nodes",
    "node_urls": ["http://env-a:1", "http://env-b:2"],
    "node_username": "env-user",
    "node_password": "env-pass",
}
# booleans switched off in the environment: the environment must beat an ini that says "true"
ENV_OFF = {**ENV, "MERONODES_KEEP_NODES": "0", "MERONODES_KEEP_NODES_ON_FAILURE": "false"}
FROM_ENV_OFF = {**FROM_ENV, "keep_nodes": False, "keep_nodes_on_failure": False}
INI = """
[pytest]
node_backend = remote
merod_binary = /opt/ini/merod
node_count = 5
node_log_level = error
node_startup_timeout = 9.5
node_port_range = 30200-30299
keep_nodes = true
keep_nodes_on_failure = true
node_base_dir = /srv/ini-nodes
node_url =
    http://ini-a:1
    http://ini-b:2
node_username = ini-user
node_password = ini-pass
"""
FROM_INI = {
    "backend": "remote",
    "merod_binary": "/opt/ini/merod",
    "count": 5,
    "log_level": "error",
    "startup_timeout": 9.5,
    "port_range": [30200, 30299],
    "keep_nodes": True,
    "keep_nodes_on_failure": True,
    "base_dir": "/srv/ini-nodes",
    "node_urls": ["http://ini-a:1", "http://ini-b:2"],
    "node_username": "ini-user",
    "node_password": "ini-pass",
}
DEFAULTS = {
    "backend": "binary",
    "merod_binary": "merod",
    "count": 1,
    "log_level": "info",
    "startup_timeout": 60.0,
    "port_range": [20000, 29999],
    "keep_nodes": False,
    "keep_nodes_on_failure": False,
    "base_dir": None,
    "node_urls": [],
    "node_username": "",
    "node_password": "",
}


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        pytest.param([], {}, "", DEFAULTS, id="defaults"),
        pytest.param(CLI, {}, "", FROM_CLI, id="cli"),
        pytest.param([], ENV, "", FROM_ENV, id="env"),
        pytest.param([], {}, INI, FROM_INI, id="ini"),
        pytest.param(CLI, ENV, INI, FROM_CLI, id="cli-beats-env-and-ini"),
        pytest.param([], ENV_OFF, INI, FROM_ENV_OFF, id="env-beats-ini"),
    ],
)
def test_every_option_from_every_source(
    inner: Inner,
    monkeypatch: pytest.MonkeyPatch,
    cli: list[str],
    env: dict[str, str],
    ini: str,
    expected: dict[str, Any],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        inner.pytester.makeini(ini)
    inner.pytester.makepyfile(DUMP_CONFIG)
    result = inner.run(*cli, base_dir=False)
    result.assert_outcomes(passed=1)
    resolved = json.loads((inner.pytester.path / "config.json").read_text())
    assert {name: resolved[name] for name in expected} == expected


def test_password_is_never_shown(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        def test_repr(meronodes_config):
            assert "s3cret-pw" not in repr(meronodes_config)
            assert meronodes_config.node_password == "s3cret-pw"
        """
    )
    result = inner.run("--node-password=s3cret-pw", base_dir=False)
    result.assert_outcomes(passed=1)


# -- node_count decides the size of node_cluster() --------------------------------------------------
@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        pytest.param(["--node-count=2"], None, None, 2, id="cli"),
        pytest.param([], "2", None, 2, id="env"),
        pytest.param([], None, "2", 2, id="ini"),
        pytest.param(["--node-count=3"], "2", None, 3, id="cli-beats-env"),
        pytest.param([], "2", "3", 2, id="env-beats-ini"),
    ],
)
def test_node_count_is_the_default_size(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, cli: list[str], env: str | None, ini: str | None, expected: int
) -> None:
    if env is not None:
        monkeypatch.setenv("MERONODES_NODE_COUNT", env)
    if ini is not None:
        inner.pytester.makeini(f"[pytest]\nnode_count = {ini}\n")
    inner.pytester.makepyfile(
        f"""
        def test_default_size(node_cluster):
            cluster = node_cluster()
            assert len(cluster) == {expected}
            assert all(node.client.peers_count() == {expected - 1} for node in cluster)

        def test_explicit_count_wins(node_cluster):
            assert len(node_cluster(count=1)) == 1
        """
    )
    result = inner.run(SIM, *cli)
    result.assert_outcomes(passed=2)
    inner.assert_nothing_left()


# -- invalid values stop pytest with a usage error naming the option and the source -----------------
@pytest.mark.parametrize(
    ("cli", "env", "ini", "message"),
    [
        pytest.param(
            ["--node-backend=kubernetes"], {}, "", "*--node-backend: unknown backend 'kubernetes'; choose one of *",
            id="backend-cli",
        ),
        pytest.param(
            [], {"MERONODES_NODE_BACKEND": "kubernetes"}, "",
            "*MERONODES_NODE_BACKEND: unknown backend 'kubernetes'*", id="backend-env",
        ),
        pytest.param(
            [], {}, "node_backend = kubernetes", "*ini node_backend: unknown backend 'kubernetes'*", id="backend-ini"
        ),
        pytest.param(
            [], {"MERONODES_NODE_COUNT": "many"}, "",
            "*MERONODES_NODE_COUNT: 'many' is not a valid int for --node-count*", id="count-not-int",
        ),
        pytest.param(["--node-count=0"], {}, "", "*--node-count: node count must be at least 1*", id="count-zero"),
        pytest.param(
            [], {}, "node_port_range = 30000", "*ini node_port_range: port range '30000' must look like*",
            id="port-range",
        ),
        pytest.param(
            ["--node-port-range=900-1000"], {}, "", "*--node-port-range: port range '900-1000' must lie within*",
            id="port-range-low",
        ),
        pytest.param(
            ["--node-startup-timeout=-1"], {}, "", "*--node-startup-timeout: startup timeout must be positive*",
            id="timeout",
        ),
        pytest.param(
            [], {"MERONODES_KEEP_NODES": "perhaps"}, "",
            "*MERONODES_KEEP_NODES: 'perhaps' is not a valid bool for --keep-nodes*", id="bool",
        ),
    ],
)
def test_invalid_values_are_usage_errors(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, cli: list[str], env: dict[str, str], ini: str, message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        inner.pytester.makeini(f"[pytest]\n{ini}\n")
    inner.pytester.makepyfile("def test_never_runs(): pass")
    result = inner.run(*cli, base_dir=False)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: pytest-meronodes: {message.lstrip('*')}"])


# -- merod_binary and the header ---------------------------------------------------------------------
def test_header_names_the_backend_and_the_simulator(inner: Inner) -> None:
    inner.pytester.makeini("[pytest]\nmerod_binary = sim\n")
    inner.pytester.makepyfile("def test_nothing(): pass")
    result = inner.run(base_dir=False)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"meronodes: backend=binary, the merod SIMULATOR: {sys.executable} *-m merod_sim"
         f" (merod {SIM_VERSION} (merod-sim *))"]
    )


def test_merod_binary_from_the_environment_is_the_program_that_runs(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = inner.pytester.path / "calls.txt"
    merod = recording_merod(inner.pytester.path / "my-merod", calls)
    monkeypatch.setenv("MERONODES_MEROD_BINARY", str(merod))
    inner.pytester.makeini("[pytest]\nmerod_binary = sim\n")
    inner.pytester.makepyfile(
        """
        def test_cluster(node_cluster):
            assert node_cluster(count=1)[0].client.peers_count() == 0
        """
    )
    result = inner.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"meronodes: backend=binary, merod: {merod} (merod {SIM_VERSION} *)"])
    result.stdout.no_fnmatch_line("*SIMULATOR*")
    subcommands = [line.split()[-1] for line in calls.read_text().splitlines()]
    assert subcommands.count("--version") >= 1
    assert "init" in calls.read_text()
    # the simulator's release has `run --exit-on-eof`: the node holds a pipe to pytest
    assert calls.read_text().splitlines()[-1].split()[-3:] == ["run", "--exit-on-eof", "0"]
    inner.assert_nothing_left()


def test_merod_binary_on_the_command_line_beats_the_environment(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MERONODES_MEROD_BINARY", str(inner.pytester.path / "missing-merod"))
    inner.pytester.makepyfile("def test_nothing(): pass")
    result = inner.run(SIM, base_dir=False)
    result.stdout.fnmatch_lines(["meronodes: backend=binary, the merod SIMULATOR: *"])


def test_missing_merod_is_named_in_the_header(inner: Inner) -> None:
    inner.pytester.makepyfile(
        """
        def test_cluster(node_cluster):
            node_cluster()
        """
    )
    result = inner.run("--merod-binary=/nonexistent/merod")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "meronodes: backend=binary, merod unavailable: merod program '/nonexistent/merod' not found; *",
            "E *MerodProgramError: merod program '/nonexistent/merod' not found; install merod, or set --merod-binary*",
        ]
    )
    inner.assert_nothing_left()


# -- the other options change what they say -------------------------------------------------------------
def test_node_port_range_from_the_environment(inner: Inner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERONODES_NODE_PORT_RANGE", "30300-30349")
    inner.pytester.makepyfile(
        """
        def test_ports(node_cluster, record):
            cluster = node_cluster(count=3)
            record(cluster)
            assert all(node.client.peers_count() == 2 for node in cluster)
        """
    )
    result = inner.run(SIM)
    result.assert_outcomes(passed=1)
    ports = inner.record("test_ports")["ports"]
    assert len(set(ports)) == 6
    assert all(30300 <= port <= 30349 for port in ports), ports
    inner.assert_nothing_left()


@pytest.mark.parametrize("source", ["ini", "default"])
def test_node_base_dir_holds_the_homes(inner: Inner, source: str) -> None:
    if source == "ini":
        inner.pytester.makeini(f"[pytest]\nnode_base_dir = {inner.base_dir}\n")
        prefix = repr(str(inner.base_dir))
    else:  # the plugin's own directory of this user, which pytest never rotates
        prefix = "str(clusters_dir())"
    inner.pytester.makepyfile(
        f"""
        from pytest_meronodes.state_dir import clusters_dir

        def test_homes(node_cluster, record):
            cluster = node_cluster(count=2)
            record(cluster)
            for node in cluster:
                assert str(node.home).startswith({prefix} + "/")
                assert node.home.parent.name == cluster.id
                assert node.home.is_dir()
        """
    )
    result = inner.run(SIM, base_dir=False)
    result.assert_outcomes(passed=1)
    homes = [Path(home) for home in inner.record("test_homes")["homes"]]
    base_dir = homes[0].parent.parent
    assert (base_dir == inner.base_dir) is (source == "ini")
    # the default directory is shared with every session of this user: look at this cluster alone
    inner.assert_nothing_left(base_dir if source == "ini" else homes[0].parent)


@pytest.mark.parametrize(
    ("cli", "env", "ini", "quiet"),
    [
        pytest.param([], None, "warn", True, id="ini"),
        pytest.param([], "debug", "warn", False, id="env-beats-ini"),
        pytest.param(["--node-log-level=warn"], "debug", None, True, id="cli-beats-env"),
    ],
)
def test_node_log_level(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, cli: list[str], env: str | None, ini: str | None, quiet: bool
) -> None:
    if env is not None:
        monkeypatch.setenv("MERONODES_NODE_LOG_LEVEL", env)
    if ini is not None:
        inner.pytester.makeini(f"[pytest]\nnode_log_level = {ini}\n")
    inner.pytester.makepyfile(
        f"""
        def test_option(node_cluster):
            logs = node_cluster(count=1)[0].logs()
            assert ("Node started successfully" not in logs) is {quiet}
            assert ("DEBUG" in logs) is {not quiet}

        def test_the_test_beats_the_option(node_cluster):
            assert "Node started successfully" in node_cluster(count=1, log_level="info")[0].logs()
        """
    )
    result = inner.run(SIM, *cli)
    result.assert_outcomes(passed=2)
    inner.assert_nothing_left()


# -- keep_nodes / keep_nodes_on_failure ------------------------------------------------------------------
KEPT_SUITE = """
    import pytest

    @pytest.fixture(scope="session")
    def shared(node_cluster_factory):
        return node_cluster_factory(count=1, names=["shared"])

    def test_passes(node_cluster, shared, record):
        record(node_cluster(count=2, names=["pass1", "pass2"]))

    def test_fails(node_cluster, record):
        record(node_cluster(count=2, names=["fail1", "fail2"]))
        assert False, "this test fails"
"""


def check_and_stop_kept(inner: Inner, output: str, expected_names: set[str]) -> None:
    """The nodes the summary names are the expected ones and still run and answer; then this test
    stops them by PID and removes their directories."""
    kept = kept_nodes(output)
    try:
        assert sorted(node.name for node in kept) == sorted(expected_names), output
        for node in kept:
            assert node.home.parent.parent == inner.base_dir
            assert node.home.is_dir()
            assert str(inner.base_dir) in (cmdline(node.pid) or ""), f"{node.name} (pid {node.pid}) is not running"
            assert requests.get(node.url + "/admin-api/health", timeout=10).status_code == 200
    finally:
        stop_pids([node.pid for node in kept], str(inner.base_dir))
        for node in kept:
            shutil.rmtree(node.home.parent, ignore_errors=True)
    assert processes_under(inner.base_dir) == {}


@pytest.mark.parametrize(
    ("cli", "env", "ini"),
    [
        pytest.param(["--keep-nodes"], {}, "", id="cli"),
        pytest.param([], {"MERONODES_KEEP_NODES": "1"}, "", id="env"),
        pytest.param([], {}, "keep_nodes = true", id="ini"),
        pytest.param(["--keep-nodes", "-n", "2"], {}, "", id="xdist"),
    ],
)
def test_keep_nodes_leaves_every_cluster_running(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, cli: list[str], env: dict[str, str], ini: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        inner.pytester.makeini(f"[pytest]\n{ini}\n")
    inner.pytester.makepyfile(KEPT_SUITE)
    result = inner.run(SIM, *cli)
    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    try:
        result.stdout.fnmatch_lines(
            ["*= meronodes: clusters left running =*", "cluster * left running (files in *):", "  * pid=*",
             "  remove with: *"]
        )
    finally:
        check_and_stop_kept(inner, output, {"pass1", "pass2", "fail1", "fail2", "shared"})
    # the kept clusters' reservations stay, owned by a finished session: the next allocation reclaims them
    assert_nothing_left(inner.base_dir)


@pytest.mark.parametrize(
    ("cli", "env", "ini"),
    [
        pytest.param(["--keep-nodes-on-failure"], {}, "", id="cli"),
        pytest.param([], {"MERONODES_KEEP_NODES_ON_FAILURE": "true"}, "", id="env"),
        pytest.param([], {}, "keep_nodes_on_failure = 1", id="ini"),
    ],
)
def test_keep_nodes_on_failure_leaves_only_the_failed_cluster(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, cli: list[str], env: dict[str, str], ini: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if ini:
        inner.pytester.makeini(f"[pytest]\n{ini}\n")
    inner.pytester.makepyfile(KEPT_SUITE)
    result = inner.run(SIM, *cli)
    result.assert_outcomes(passed=1, failed=1)
    check_and_stop_kept(inner, result.stdout.str(), {"fail1", "fail2"})
    assert_nothing_left(inner.base_dir, [inner.record("test_passes")])


# -- --help --------------------------------------------------------------------------------------------
def test_help_lists_every_option_in_one_group(inner: Inner) -> None:
    result = inner.run("--help", base_dir=False)
    assert result.ret == 0
    lines = result.stdout.lines
    start = lines.index("Calimero node clusters (pytest-meronodes):")
    end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith(" "))
    group = "\n".join(lines[start:end])
    flags = {spec.flag for spec in OPTIONS}
    assert {
        "--node-backend", "--merod-binary", "--node-count", "--node-log-level", "--node-startup-timeout",
        "--node-port-range", "--keep-nodes", "--keep-nodes-on-failure", "--node-base-dir", "--node-url",
        "--node-username", "--node-password",
    } <= flags
    unwrapped = group.replace("\n", "").replace(" ", "")
    ini_keys = "\n".join(lines[end:])
    for spec in OPTIONS:
        assert f"  {spec.flag}" in group, f"{spec.flag} is not in the group:\n{group}"
        assert f"[env{spec.env};" in unwrapped, spec.env
        assert f"  {spec.name} " in ini_keys, spec.name
