"""The Docker backend against a real engine: meshes, loopback-only ports, the Traefik + auth
stack, errors that name what to fix, and nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import pytest

from .conftest import owned_by_dead_runs

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_clusters_mesh_with_ports_published_on_loopback_only(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import docker

        def published(cluster):
            containers = docker.from_env().containers.list(
                filters={"label": f"meronodes.cluster={cluster.id}"})
            return [binding for c in containers
                    for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values()
                    for binding in (bindings or [])]

        def test_one_node(node_cluster):
            cluster = node_cluster(count=1)
            assert cluster[0].client.health() == {"status": "alive"}
            assert cluster[0].client.peers_count() == 0

        def test_three_nodes(node_cluster):
            cluster = node_cluster(count=3)
            assert [node.client.peers_count() for node in cluster] == [2, 2, 2]
            bindings = published(cluster)
            assert len(bindings) == 3
            assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}

        def test_nodes_dial_each_other_by_address_as_real_merod_needs(node_cluster):
            # merod's swarm has no DNS transport: bootstrap peers are /ip4 addresses on the
            # cluster network, fixed before the first start
            cluster = node_cluster(count=3)
            for node in cluster:
                container = node.runtime.container
                container.reload()
                [network] = container.attrs["NetworkSettings"]["Networks"].values()
                address = network["IPAddress"]
                assert node.multiaddr == f"/ip4/{address}/tcp/2428/p2p/{node.peer_id}"
                # the real image's layout: its ENTRYPOINT, its user, the home in /data
                config = container.attrs["Config"]
                assert config["Entrypoint"] == ["merod"]
                assert config["Cmd"] == ["--home", "/data", "--node", node.name, "run"]
                assert config["User"] == "10001:10001"
                assert [m["Destination"] for m in container.attrs["Mounts"]] == ["/data"]
            for node in cluster:
                others = sorted(o.multiaddr for o in cluster if o is not node)
                assert sorted(node.runtime.container.exec_run(
                    ["python3", "-c", "import tomllib,sys; c=tomllib.load(open(sys.argv[1],'rb'));"
                     "print(*c['bootstrap']['nodes'])", f"/data/{node.name}/config.toml"]
                ).output.decode().split()) == others

        def test_proxy_stack_binds_loopback_too(node_cluster):
            cluster = node_cluster(count=2, auth="proxy")
            bindings = published(cluster)
            assert len(bindings) == 3  # two nodes and Traefik's entry port
            assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
        """
    )
    result = pytester.runpytest_subprocess(*docker_args)
    result.assert_outcomes(passed=4)
    assert owned_by_dead_runs(docker_client) == []


def test_the_simulator_image_has_the_real_merod_layout(
    docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    """What ghcr.io/calimero-network/merod is (calimero-network/core's Dockerfile), our offline
    simulator image is too, so the Docker tests exercise the backend as real users run it."""
    config = docker_client.images.get("meronodes-local/merod-sim:dev").attrs["Config"]
    assert config["Entrypoint"] == ["merod"]
    assert config["User"] == "user"
    assert config["WorkingDir"] == "/data"
    assert "CALIMERO_HOME=/data" in config["Env"]
    assert set(config["Volumes"]) == {"/data"}
    assert {"2428/tcp", "2528/tcp"} <= set(config["ExposedPorts"])
    container = docker_client.containers.create(
        "meronodes-local/merod-sim:dev", entrypoint=["sh", "-c", "id -u user; stat -c %u /data"]
    )
    try:
        container.start()
        container.wait(timeout=60)
        passwd = container.logs()
    finally:
        container.remove(v=True, force=True)  # and the anonymous /data volume (run(remove=True) keeps it)
    assert passwd.decode().split() == ["10001", "10001"]


def test_traefik_guards_protected_routes_and_lets_public_ones_through(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import pytest
        import requests

        @pytest.mark.nodes(count=2, auth="proxy")
        def test_routes(cluster):
            node = cluster["node1"]
            host = {"Host": node.client.headers["Host"]}
            assert node.url.startswith("http://127.0.0.1:")

            anonymous = requests.get(node.url + "/admin-api/peers", headers=host)
            assert anonymous.status_code == 401
            token = {**host, "Authorization": "Bearer " + node.client.token}
            authorised = requests.get(node.url + "/admin-api/peers", headers=token)
            assert authorised.status_code == 200 and authorised.json() == {"count": 1}
            forged = {**host, "Authorization": "Bearer not-a-token"}
            assert requests.post(node.url + "/jsonrpc", json={}, headers=forged).status_code == 401

            assert requests.get(node.url + "/admin-dashboard/", headers=host).status_code == 200
            assert requests.get(node.url + "/admin-api/health", headers=host).json() == {"data": {"status": "alive"}}
            preflight = requests.options(node.url + "/jsonrpc", headers={
                **host, "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
            assert preflight.status_code == 200  # what merod's CORS layer answers, auth or not
            assert preflight.headers["Access-Control-Allow-Origin"] == "*"

            # the client and the app flow work through the proxy unchanged
            ctx = cluster.shared_context(__file__)
            ctx.call("node1", "set", {"key": "k", "value": "v"})
            ctx.wait_for_sync()
            assert ctx.call("node2", "get", {"key": "k"}) == "v"
            # a token for one node's host is refused on another's
            other = {"Host": cluster["node2"].client.headers["Host"], "Authorization": "Bearer " + node.client.token}
            refused = requests.get(node.url + "/admin-api/peers", headers=other)
            assert refused.status_code == 403  # mero-auth's forward-auth: invalid_node
            assert refused.headers["X-Auth-Error"] == "invalid_node"
        """
    )
    result = pytester.runpytest_subprocess(*docker_args)
    result.assert_outcomes(passed=1)
    assert owned_by_dead_runs(docker_client) == []


def test_nothing_is_left_after_a_pass_a_failure_and_a_failed_start(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        def test_passes(node_cluster):
            node_cluster(count=2, auth="proxy")

        def test_fails(node_cluster):
            node_cluster(count=2)
            assert False, "the test itself fails"

        def test_start_fails(node_cluster):
            # a listen address merod cannot parse: node2 exits at start
            node_cluster(count=2, config={"server.listen": ["/ip4/0.0.0.0/tcp/not-a-port"]})
        """
    )
    result = pytester.runpytest_subprocess(*docker_args)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*the test itself fails*", "*meronodes: log of node1*"])
    # the failed start names the node, its exit code and its own log
    result.stdout.fnmatch_lines(["*NodeStartError: node 'node?': process exited during start*(exit code 1)*"])
    result.stdout.fnmatch_lines(["*failed to parse: invalid digit found in string*"])
    assert owned_by_dead_runs(docker_client) == []


def test_two_sessions_run_side_by_side(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    """Both sessions hold a proxied cluster at the same moment; neither touches the other's."""
    test_file = pytester.makepyfile(
        textwrap.dedent(
            """
            import os, time
            from pathlib import Path

            def test_hold(node_cluster):
                cluster = node_cluster(count=2, auth="proxy")
                here = Path(os.environ["SYNC_DIR"])
                (here / os.environ["SESSION"]).write_text(cluster.id)
                deadline = time.monotonic() + 120
                while len(list(here.iterdir())) < 2:  # wait for the other session's cluster
                    assert time.monotonic() < deadline, "the other session never got its cluster"
                    time.sleep(0.05)
                assert [n.client.peers_count() for n in cluster] == [1, 1]
            """
        )
    )
    sync_dir = pytester.path / "sync"
    sync_dir.mkdir()
    sessions = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", str(test_file), *docker_args],
            cwd=pytester.path,
            env={**os.environ, "SYNC_DIR": str(sync_dir), "SESSION": name},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in ("first", "second")
    ]
    outputs = [session.communicate(timeout=300)[0].decode() for session in sessions]
    for session, output in zip(sessions, outputs):
        assert session.returncode == 0, output
    ids = {path.read_text() for path in sync_dir.iterdir()}
    assert len(ids) == 2
    assert owned_by_dead_runs(docker_client) == []


@pytest.mark.parametrize("auth", ["embedded", "proxy"])
def test_examples_pass_on_docker(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str],
    monkeypatch: pytest.MonkeyPatch, auth: str,
) -> None:
    monkeypatch.setenv("MERONODES_EXAMPLE_AUTH", auth)
    result = pytester.runpytest_subprocess(str(EXAMPLES), *docker_args)
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["meronodes: backend=docker*merod-sim*"])
    assert owned_by_dead_runs(docker_client) == []


def test_a_missing_image_is_one_clear_error(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    pytester.makepyfile("def test_x(node_cluster):\n    node_cluster(count=1)\n")
    started = time.monotonic()
    result = pytester.runpytest_subprocess(*docker_args, "--merod-image=meronodes-local/no-such-image:1")
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines([
        "*Docker image meronodes-local/no-such-image:1 is not present and cannot be pulled*--merod-image*"
    ])
    assert time.monotonic() - started < 60
    assert owned_by_dead_runs(docker_client) == []


def test_an_unreachable_engine_is_one_clear_error(
    pytester: pytest.Pytester, docker_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_x(node_cluster):\n    node_cluster(count=1)\n")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    result = pytester.runpytest_subprocess(*docker_args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Docker engine unreachable*DOCKER_HOST*"])


def test_resource_caps_bind_mounted_homes_and_an_oom_kill_is_reported(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    pytester.makepyfile(
        """
        import docker

        def test_caps_and_bind_homes(node_cluster, meronodes_config):
            cluster = node_cluster(count=2)
            for node in cluster:
                container = node.runtime.container
                container.reload()
                host = container.attrs["HostConfig"]
                assert host["Memory"] == 96 * 1024 * 1024
                assert host["NanoCpus"] == 500_000_000
                mounts = container.attrs["Mounts"]
                assert [m["Type"] for m in mounts] == ["bind"]
                assert (mounts[0]["Source"]).startswith(str(meronodes_config.base_dir))
            assert [node.client.peers_count() for node in cluster] == [1, 1]
        """
    )
    base = pytester.path / "nodes"
    result = pytester.runpytest_subprocess(
        *docker_args, "--node-memory=96m", "--node-cpus=0.5", "--docker-home=bind", f"--node-base-dir={base}"
    )
    result.assert_outcomes(passed=1)
    assert not list(base.glob("*/node*-home"))
    assert owned_by_dead_runs(docker_client) == []

    pytester.makepyfile(test_oom="def test_oom(node_cluster):\n    node_cluster(count=1)\n")
    result = pytester.runpytest_subprocess(*docker_args, "--node-memory=8m", "test_oom.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*node 'node1'*killed: out of memory (raise --node-memory) (exit code 137)*"])
    assert owned_by_dead_runs(docker_client) == []
