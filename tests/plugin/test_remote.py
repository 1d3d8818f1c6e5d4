"""The remote backend: nodes that already run elsewhere, named by URL, never started or stopped."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import tomllib

from tests.simhelpers import free_port

from .support import SIMULATOR, Inner


@dataclass
class RunningNode:
    name: str
    url: str
    process: subprocess.Popen[bytes]


def merod(home: Path, name: str, *args: str) -> None:
    completed = subprocess.run(
        [*SIMULATOR, "--home", str(home), "--node", name, *args], capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr


def wait_healthy(node: RunningNode, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert node.process.poll() is None, f"{node.name} exited with {node.process.returncode}"
        try:
            if requests.get(node.url + "/admin-api/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, f"{node.name} not healthy within {timeout} s"
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def remote_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RunningNode]]:
    """Two simulator nodes that boot from each other, started here (not by the plugin) and
    stopped here by PID."""
    home = tmp_path_factory.mktemp("remote")
    ports = {name: (free_port(), free_port()) for name in ("r1", "r2")}
    peer_ids = {}
    for name, (server, swarm) in ports.items():
        merod(home, name, "init", "--server-host", "127.0.0.1", "--server-port", str(server),
              "--swarm-host", "127.0.0.1", "--swarm-port", str(swarm))
        peer_ids[name] = tomllib.loads((home / name / "config.toml").read_text())["identity"]["peer_id"]
    for name in ports:
        others = [f"/ip4/127.0.0.1/tcp/{swarm}/p2p/{peer_ids[other]}"
                  for other, (_, swarm) in ports.items() if other != name]
        merod(home, name, "config", f"bootstrap.nodes={json.dumps(others)}")
    nodes: list[RunningNode] = []
    try:
        for name, (server, _) in ports.items():
            log = (home / f"{name}.log").open("wb")
            with log:
                process = subprocess.Popen(
                    [*SIMULATOR, "--home", str(home), "--node", name, "run"],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            nodes.append(RunningNode(name, f"http://127.0.0.1:{server}", process))
        for node in nodes:
            wait_healthy(node)
        yield nodes
    finally:
        for node in nodes:
            stop(node.process)


def test_remote_nodes_make_a_cluster(inner: Inner, remote_nodes: list[RunningNode]) -> None:
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
    inner: Inner, remote_nodes: list[RunningNode], monkeypatch: pytest.MonkeyPatch
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
