"""A pytest killed with SIGKILL in the middle of a cluster: the next session removes everything
the dead run owned, and nothing of a session that is still running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests

from pytest_meronodes.backends.docker import labels as docker_labels
from pytest_meronodes.ownership import Owner, process_start_time
from tests.docker_backend.conftest import SIM_IMAGE
from tests.simhelpers import SIM

from .sessions import HoldingSession, alive, reservations_of, run_record_exists


def _next_session(directory: Path, args: list[str]) -> None:
    """Any session with the plugin loaded reaps at start; this one has a trivial test."""
    test = directory / "test_trivial.py"
    test.write_text("def test_nothing():\n    pass\n")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", str(test), "-p", "no:cacheprovider", "--rootdir", str(directory), *args],
        cwd=directory, capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


@pytest.mark.parametrize(
    "extra", [[], ["--keep-nodes-on-failure"]], ids=["nodes-die-with-pytest", "nodes-outlive-pytest"]
)
def test_binary_run_killed_with_sigkill_is_reaped_and_a_live_session_is_not(tmp_path: Path, extra: list[str]) -> None:
    victim = HoldingSession(tmp_path, "victim", [SIM, *extra])
    survivor = HoldingSession(tmp_path, "survivor", [SIM])
    try:
        dead, living = victim.info(), survivor.info()
        assert run_record_exists(dead["run"])
        assert reservations_of(dead["run"])

        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        # (any session started on this machine now reaps; under xdist another test's may be first)
        _next_session(tmp_path, [SIM])

        assert not any(alive(pid) for pid in dead["pids"])
        assert not any(Path(home).exists() for home in dead["homes"])
        assert reservations_of(dead["run"]) == []
        assert not run_record_exists(dead["run"])
        # the session still running is untouched and its cluster works
        assert all(alive(pid) for pid in living["pids"])
        assert all(Path(home).exists() for home in living["homes"])
        assert sorted(reservations_of(living["run"])) == sorted(living["ports"])
        assert [requests.get(url + "/admin-api/peers", timeout=5).json() for url in living["urls"]] == [
            {"count": 2}
        ] * 3
        assert survivor.release() == 0, survivor.output()
        assert reservations_of(living["run"]) == []
    finally:
        victim.stop()
        survivor.stop()


@pytest.mark.docker
def test_docker_run_killed_with_sigkill_is_reaped_and_a_live_session_is_not(
    tmp_path: Path, docker_client: docker.DockerClient, docker_args: list[str]
) -> None:
    victim = HoldingSession(tmp_path, "victim", docker_args)
    survivor = HoldingSession(tmp_path, "survivor", docker_args)

    def owned(cluster: str) -> list[str]:
        selector: dict[str, str | list[str] | bool] = {"label": f"{docker_labels.CLUSTER}={cluster}"}
        return sorted([
            *(f"container {c.name}" for c in docker_client.containers.list(all=True, filters=selector)),
            *(f"network {n.name}" for n in docker_client.networks.list(filters=selector)),
            *(f"volume {v.name}" for v in docker_client.volumes.list(filters=selector)),
        ])

    try:
        dead, living = victim.info(), survivor.info()
        assert len(owned(dead["cluster"])) == 7  # 3 containers, 1 network, 3 volumes
        before = owned(living["cluster"])

        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        assert len(owned(dead["cluster"])) == 7  # containers cannot die with their parent
        _next_session(tmp_path, docker_args)

        assert owned(dead["cluster"]) == []
        assert not run_record_exists(dead["run"])
        assert owned(living["cluster"]) == before
        assert [requests.get(url + "/admin-api/peers", timeout=5).json() for url in living["urls"]] == [
            {"count": 2}
        ] * 3
        assert survivor.release() == 0, survivor.output()
        assert owned(living["cluster"]) == []
    finally:
        victim.stop()
        survivor.stop()


@pytest.mark.docker
def test_sessions_that_reap_one_dead_docker_run_together_leave_nothing_and_report_no_failure(
    tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    """Two sessions starting at once both find a dead run's containers. Neither may give up on a
    container the other is removing and leave its volume behind, "in use" (as CI once saw)."""
    cluster = f"{uuid.uuid4().hex[:8]}-c1"
    selector: dict[str, str | list[str] | bool] = {"label": f"{docker_labels.CLUSTER}={cluster}"}

    def owned() -> list[str]:
        return sorted([
            *(f"container {c.name}" for c in docker_client.containers.list(all=True, filters=selector)),
            *(f"network {n.name}" for n in docker_client.networks.list(filters=selector)),
            *(f"volume {v.name}" for v in docker_client.volumes.list(filters=selector)),
        ])

    # the run's owner lives while its cluster is made: under xdist, sessions starting meanwhile reap
    owner = subprocess.Popen(["sleep", "600"])
    try:
        started = process_start_time(owner.pid)
        assert started is not None
        labels = docker_labels.labels(Owner(cluster[:8], owner.pid, started), cluster, "node")
        network = docker_client.networks.create(f"meronodes-{cluster}", labels=labels)
        for index in range(6):
            volume = docker_client.volumes.create(f"meronodes-{cluster}-node{index}-home", labels=labels)
            docker_client.containers.run(
                SIM_IMAGE, entrypoint=["sleep", "300"], detach=True, labels=labels, network=network.name,
                name=f"meronodes-{cluster}-node{index}", volumes={volume.name: {"bind": "/data", "mode": "rw"}},
            )
        assert len(owned()) == 13
    finally:  # dead from here on: what it made is any reaper's (also when making it failed)
        owner.kill()
        owner.wait()
    environment = {**os.environ, "TMPDIR": str(tmp_path)}  # this test's records and ports, the real engine
    reapers = [
        subprocess.Popen([sys.executable, "-m", "pytest_meronodes", "reap"], env=environment,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [reaper.communicate(timeout=180)[0] for reaper in reapers]

    assert [reaper.returncode for reaper in reapers] == [0, 0], outputs
    assert owned() == []


def test_ctrl_c_tears_the_cluster_down(tmp_path: Path) -> None:
    session = HoldingSession(tmp_path, "interrupted", [SIM])
    try:
        held = session.info()
        session.process.send_signal(signal.SIGINT)
        code = session.process.wait(timeout=60)
        output = session.output()
        assert code == 2, output  # pytest's "interrupted"
        assert "KeyboardInterrupt" in output
        assert not any(alive(pid) for pid in held["pids"])
        assert not any(Path(home).exists() for home in held["homes"])
        assert reservations_of(held["run"]) == []
        assert not run_record_exists(held["run"])
    finally:
        session.stop()


def test_ps_and_reap_command_line(tmp_path: Path) -> None:
    session = HoldingSession(tmp_path, "listed", [SIM, "--keep-nodes"])
    try:
        held = session.info()
        listing = subprocess.run(
            [sys.executable, "-m", "pytest_meronodes", "ps"], capture_output=True, text=True, check=True
        ).stdout
        assert f"cluster {held['cluster']}" in listing
        assert session.release() == 0, session.output()
        # kept: the session has ended, its nodes still run, and plain reaping leaves them alone
        assert all(alive(pid) for pid in held["pids"])
        subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap"], check=True, capture_output=True)
        assert all(alive(pid) for pid in held["pids"])
        reaped = subprocess.run(
            [sys.executable, "-m", "pytest_meronodes", "reap", "--cluster", held["cluster"]],
            capture_output=True, text=True, check=True,
        ).stdout
        assert "removed 3 process(es), 1 home(s)" in reaped
        assert not any(alive(pid) for pid in held["pids"])
        assert not run_record_exists(held["run"])
    finally:
        session.stop()


def test_a_kept_cluster_whose_nodes_were_stopped_by_hand_is_forgotten(tmp_path: Path) -> None:
    session = HoldingSession(tmp_path, "kept", [SIM, "--keep-nodes"])
    try:
        held = session.info()
        assert session.release() == 0, session.output()
        # kept: its nodes run, so no session's reaping may take the record
        assert run_record_exists(held["run"])
        for pid in held["pids"]:  # the user is done debugging and stops the nodes
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in held["pids"]):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        reaped = subprocess.run([sys.executable, "-m", "pytest_meronodes", "reap"], capture_output=True, text=True,
                                check=False)
        assert reaped.returncode == 0, reaped.stdout + reaped.stderr
        assert not run_record_exists(held["run"])
        assert not any(Path(home).exists() for home in held["homes"])
    finally:
        session.stop()
