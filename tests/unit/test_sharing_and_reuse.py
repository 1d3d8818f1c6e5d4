"""The pure parts of sharing and reuse: the reuse key (equal for interchangeable clusters, different
otherwise), the handoff file (round trip, private), and when the worker that started a shared
cluster may stop it."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_meronodes import sharing
from pytest_meronodes.config import MeronodesConfig
from pytest_meronodes.handoff import ClusterHandoff, NodeEntry
from pytest_meronodes.ownership import Owner, new_owner
from pytest_meronodes.reuse import reuse_key
from pytest_meronodes.sharing import Worker, finished_tests, wait_for_other_workers
from pytest_meronodes.spec import make_spec

from .test_config import DEFAULTS
from .test_spec import USER_CONFIG

IDENTITY = {"command": ["/usr/bin/merod"], "files": [["/usr/bin/merod", 1000, 1]]}


def key(arguments: dict[str, Any], settings: MeronodesConfig = DEFAULTS, identity: dict[str, Any] = IDENTITY) -> str:
    return reuse_key(make_spec(settings, arguments), settings, identity)


def test_the_same_cluster_has_the_same_key() -> None:
    assert key({"count": 3}) == key({"count": 3})
    assert key({"count": 3}) == key({"names": ["node1", "node2", "node3"]})
    assert key({"count": 3, "config": {"sync.interval_ms": 200}}) == key({"config": {"sync.interval_ms": 200},
                                                                           "count": 3})


@pytest.mark.parametrize("other", [
    {"count": 4},
    {"count": 3, "auth": "embedded"},
    {"count": 3, "topology": "ring"},
    {"count": 3, "config": {"sync.interval_ms": 200}},
    {"count": 3, "log_level": "debug"},
    {"names": ["a", "b", "c"]},
])
def test_another_spec_is_another_key(other: dict[str, Any]) -> None:
    assert key(other) != key({"count": 3})


def test_another_merod_or_backend_is_another_key() -> None:
    rebuilt = {"command": ["/usr/bin/merod"], "files": [["/usr/bin/merod", 1000, 2]]}
    assert key({"count": 3}, identity=rebuilt) != key({"count": 3})
    docker = dataclasses.replace(DEFAULTS, backend="docker")
    assert key({"count": 3}, settings=docker) != key({"count": 3})


def test_a_custom_config_file_counts_by_its_content(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(USER_CONFIG)
    before = key({"count": 2, "config_path": path})
    path.write_text(USER_CONFIG.replace("interval_ms = 1", "interval_ms = 2"))
    assert key({"count": 2, "config_path": path}) != before


def test_a_handoff_round_trips_in_a_file_only_its_user_reads(tmp_path: Path) -> None:
    entry = NodeEntry("node1", "http://127.0.0.1:20001", 20001, 20002, "12D3KooWpeer", "/ip4/127.0.0.1/tcp/20002",
                      "/homes/node1", "/homes/node1.log", None, {"kind": "process", "pid": 7, "started": "9"})
    handoff = ClusterHandoff("abcd1234-c1", "/homes", "merod 0.11.0-rc.25", "full", {"node1": []}, "admin",
                             "secret", (entry,))
    path = tmp_path / "handoff.json"
    handoff.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ClusterHandoff.read(path) == handoff


def _announce(directory: Path, worker_id: str, owner: Owner) -> None:
    (directory / f"worker-{worker_id}.json").write_text(json.dumps(owner.as_dict()))


@pytest.fixture
def meeting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sharing, "meeting_dir", lambda worker: tmp_path)
    return tmp_path


def test_the_starter_waits_for_a_busy_worker_not_for_a_done_or_dead_one(meeting: Path) -> None:
    me = Worker("gw0", 3, "run")
    _announce(meeting, "gw0", new_owner())
    _announce(meeting, "gw1", new_owner())  # alive (this process) and not done yet
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    _announce(meeting, "gw2", Owner("run", int(dead.stdout), "1"))  # gone
    polls: list[int] = []

    def finish_after_a_few_polls(seconds: float) -> None:
        polls.append(1)
        if len(polls) == 3:
            finished_tests(Worker("gw1", 3, "run"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pytest_meronodes.sharing.time.sleep", finish_after_a_few_polls)
        wait_for_other_workers(me, poll=0, grace=0)
    assert len(polls) == 3, "returned only once gw1 said it was done"
    assert (meeting / "done-gw1").exists()


def test_a_worker_that_never_announced_itself_is_waited_for_a_grace_period_only(meeting: Path) -> None:
    _announce(meeting, "gw0", new_owner())
    wait_for_other_workers(Worker("gw0", 2, "run"), poll=0.001, grace=0.05)  # returns: gw1 never came


def test_the_meeting_directory_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    directory = sharing.meeting_dir(Worker("gw0", 2, "abc"))
    assert directory.is_dir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700
    assert directory.stat().st_uid == os.geteuid()
