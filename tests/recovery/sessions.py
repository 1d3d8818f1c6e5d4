"""Pytest sessions run as separate processes that hold a cluster until told to let go, so a test
can kill, interrupt or inspect them while their clusters are up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytest_meronodes.ownership import process_start_time
from pytest_meronodes.ports import DEFAULT_REGISTRY
from pytest_meronodes.runs import DEFAULT_RUNS_DIR

HOLDING_TEST = '''
import json, os, time
from pathlib import Path

def test_hold(node_cluster):
    cluster = node_cluster(count=3)
    info = {
        "cluster": cluster.id,
        "run": cluster.id.split("-")[0],
        "urls": [node.url for node in cluster],
        "pids": [getattr(node.runtime, "pid", None) for node in cluster],
        "homes": [str(node.home) for node in cluster if node.home is not None],
        "ports": [p for node in cluster for p in (node.rpc_port, node.swarm_port) if p],
    }
    sync = Path(os.environ["SYNC_DIR"])
    (sync / (os.environ["SESSION"] + ".tmp")).write_text(json.dumps(info))
    os.replace(sync / (os.environ["SESSION"] + ".tmp"), sync / (os.environ["SESSION"] + ".json"))
    deadline = time.monotonic() + 180
    while not (sync / ("release-" + os.environ["SESSION"])).exists():
        assert time.monotonic() < deadline, "never released"
        time.sleep(0.05)
    assert all(node.client.health() == {"status": "alive"} for node in cluster)
'''


class HoldingSession:
    def __init__(self, directory: Path, name: str, args: list[str]) -> None:
        self.directory = directory
        self.name = name
        self.sync = directory / "sync"
        self.sync.mkdir(parents=True, exist_ok=True)
        test_file = directory / "test_hold.py"
        if not test_file.exists():
            test_file.write_text(HOLDING_TEST)
        base = directory / f"nodes-{name}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", str(test_file), "-p", "no:cacheprovider", "-q",
             f"--node-base-dir={base}", "--rootdir", str(directory), *args],
            cwd=directory,
            env={**os.environ, "SYNC_DIR": str(self.sync), "SESSION": name},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def info(self, timeout: float = 90) -> dict[str, Any]:
        """What the session's cluster is, once it is up."""
        path = self.sync / f"{self.name}.json"
        deadline = time.monotonic() + timeout
        while not path.exists():
            if self.process.poll() is not None:
                raise AssertionError(f"session {self.name} ended early:\n{self.output()}")
            assert time.monotonic() < deadline, f"session {self.name} never got its cluster"
            time.sleep(0.05)
        info: dict[str, Any] = json.loads(path.read_text())
        return info

    def release(self) -> int:
        (self.sync / f"release-{self.name}").touch()
        return self.process.wait(timeout=120)

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stdout is not None
        return self.process.stdout.read().decode(errors="replace")

    def stop(self) -> None:
        """Finalizer: whatever happened, this session's process is gone afterwards."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def alive(pid: int | None) -> bool:
    return pid is not None and process_start_time(pid) is not None


def reservations_of(run_id: str) -> list[int]:
    found = []
    for record in DEFAULT_REGISTRY.glob("*.json"):
        try:
            if json.loads(record.read_text()).get("run_id") == run_id:
                found.append(int(record.stem))
        except (OSError, ValueError):
            continue
    return found


def run_record_exists(run_id: str) -> bool:
    return (DEFAULT_RUNS_DIR / f"{run_id}.json").exists()
