"""Helpers of the registry tests: a second uid, processes this test starts (and always stops, by
pid), forged run records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_meronodes.ownership import process_start_time
from tests.docker_backend.conftest import docker_client

__all__ = ["docker_client"]

OTHER_UID = 65534  # nobody: a uid that is not ours, whoever runs the tests
MARKER_FILE = ".meronodes-cluster"
MARKER_ENV = "PYTEST_MERONODES_CLUSTER"


def require_root(what: str) -> None:
    """Root can act as another uid (chown, setpriv). Skipped without it, except in CI, which runs
    as root: there a skip would hide a test that never ran."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail(f"{what} needs root, and CI runs as root")
        pytest.skip(f"{what} needs root")
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is missing")


def dead_owner(run_id: str) -> dict[str, Any]:
    """A run owner that has exited: a process that came and went (and an impossible start time, so
    a recycled pid cannot pass for it)."""
    child = subprocess.Popen(["true"])
    child.wait()
    return {"run_id": run_id, "pid": child.pid, "started": "1"}


def forge_record(runs: Path, owner: Mapping[str, Any], clusters: Mapping[str, Mapping[str, Any]]) -> Path:
    """A run record as a forger (or a confused tool) would write it: in the runs directory, the
    plugin's format, naming whatever it likes."""
    path = runs / f"{owner['run_id']}.json"
    full = {cid: {"directory": None, "processes": [], "kept": False, **cluster} for cid, cluster in clusters.items()}
    path.write_text(json.dumps({"owner": dict(owner), "clusters": full}))
    return path


def process_entry(process: subprocess.Popen[bytes], role: str = "node node1") -> dict[str, Any]:
    """How a record lists a process: its pid and start time (readable by anyone in /proc)."""
    started = process_start_time(process.pid)
    assert started, f"process {process.pid} is not running"
    return {"pid": process.pid, "started": started, "role": role}


def write_marker(directory: Path, run_id: str, cluster_id: str) -> None:
    """The marker file the plugin writes into a cluster directory it creates."""
    (directory / MARKER_FILE).write_text(json.dumps({"run_id": run_id, "cluster_id": cluster_id}))


def precious_directory(path: Path) -> Path:
    """A directory with content that must survive."""
    (path / "sub").mkdir(parents=True)
    (path / "precious.txt").write_text("keep me")
    (path / "sub" / "deep.txt").write_text("keep me too")
    return path


def intact(path: Path) -> bool:
    return (
        path.is_dir()
        and (path / "precious.txt").read_text() == "keep me"
        and (path / "sub" / "deep.txt").read_text() == "keep me too"
    )


@pytest.fixture
def start_process() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start a `sleep 120` (optionally as another uid, or with extra environment); every one is
    stopped by its pid when the test ends, whatever happened."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*, uid: int | None = None, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        argv = ["sleep", "120"]
        if uid is not None:
            argv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", *argv]
        process = subprocess.Popen(argv, env={**os.environ, **(env or {})})
        started.append(process)
        # setpriv execs sleep in the same process: wait until it has, so the uid is sleep's
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(b"sleep"):
            assert time.monotonic() < deadline, f"{argv} did not start"
            time.sleep(0.01)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


@pytest.fixture
def clusters_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The per-user clusters directory, the plugin's default base for cluster directories, moved
    into this test's directory (through the temporary directory pytest-meronodes asks Python for)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    directory = tmp_path / f"pytest-meronodes-{os.geteuid()}" / "clusters"
    directory.parent.mkdir(mode=0o700)
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A private runs directory, as the plugin keeps it."""
    directory = tmp_path / "runs"
    directory.mkdir(mode=0o700)
    return directory
