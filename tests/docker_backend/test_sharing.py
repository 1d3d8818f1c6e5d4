"""Containers shared by xdist workers and kept for reuse: the attached workers and the next session
see the same containers, can install an application in them (an upload into a container another
process started), and nothing is left once the kept cluster is reaped."""

from __future__ import annotations

import subprocess
import sys

import docker
import pytest

from pytest_meronodes.backends.docker import labels as docker_labels

from .conftest import owned_by_dead_runs

pytestmark = pytest.mark.docker

TESTS = """
import os
import pytest

@pytest.fixture(scope="session")
def shared(shared_node_cluster):
    return shared_node_cluster(count=2, names=["docker-share-1", "docker-share-2"])

@pytest.mark.parametrize("number", range(4))
def test_uses_it(shared, number, tmp_path):
    app = tmp_path / "app.wasm"
    app.write_bytes(b"\\0asm\\1\\0\\0\\0")
    application_id = shared[number % 2].install_dev_application(app)
    assert application_id in [a.id for a in shared[number % 2].client.applications()]
    assert [node.client.peers_count() for node in shared] == [1, 1]
    with open(os.environ["SHARING_RECORD"], "a") as record:
        record.write(f"{os.getpid()} {shared.id} {' '.join(n.runtime.container.id for n in shared)}\\n")
"""


def test_shared_by_workers_then_reused_by_the_next_session(
    pytester: pytest.Pytester, docker_client: docker.DockerClient, docker_args: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record = pytester.path / "record.txt"
    monkeypatch.setenv("SHARING_RECORD", str(record))
    pytester.makepyfile(TESTS)
    first = pytester.runpytest_subprocess(*docker_args, "-n", "2", "--reuse-nodes")
    first.assert_outcomes(passed=4)
    second = pytester.runpytest_subprocess(*docker_args, "--reuse-nodes")
    second.assert_outcomes(passed=4)
    lines = [line.split() for line in record.read_text().splitlines()]
    assert len({line[0] for line in lines}) == 3, "two workers, then one session"
    assert len({tuple(line[1:]) for line in lines}) == 1, f"one cluster, the same containers: {lines}"
    cluster_id = lines[0][1]
    label: dict[str, str | list[str] | bool] = {"label": f"{docker_labels.CLUSTER}={cluster_id}"}
    assert len(docker_client.containers.list(filters=label)) == 2, "kept running for the next session"

    reaped = subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap", "--cluster", cluster_id],
                            capture_output=True, text=True, timeout=120, check=False)
    assert reaped.returncode == 0, reaped.stdout + reaped.stderr
    assert docker_client.containers.list(all=True, filters=label) == []
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.volumes.list(filters=label) == []
    assert owned_by_dead_runs(docker_client) == []
