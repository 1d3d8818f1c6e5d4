"""One cluster shared by every xdist worker of a session (`shared_node_cluster(...)`), for expensive
session fixtures: started once, by whichever worker asks first, under a file lock; handed to the
others through its handoff file; stopped by the worker that started it once every other worker
has finished its tests (or died).

The workers of a session meet in a private directory named by xdist's `testrunuid`, which all of
them share and no other session has:
  worker-<id>.json   a worker's pid and start time (written when its session starts)
  done-<id>          a worker has run its last test (written before its fixtures are torn down,
                     so that two workers that each started a cluster never wait for each other)
  <key>.lock         the lock a cluster is started under; <key>.json its handoff, <key>.failed
                     the error its start raised (the other workers report it instead of retrying)
Without xdist, a shared cluster is simply a session cluster."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from . import state_dir
from .cluster import Cluster
from .config import MeronodesConfig
from .errors import MeronodesError
from .handoff import ClusterHandoff, attach
from .ownership import Owner, process_start_time
from .reuse import spec_fields
from .spec import make_spec

SHARED_DIR = "shared"  # in this user's private state directory
LATE_WORKER_GRACE = 30.0  # seconds to wait for a worker that never announced itself (it crashed early)
POLL = 0.05
UNCONTROLLED = ("it is shared by the xdist workers of this session (shared_node_cluster): a fault would hit "
                "the other workers' tests; use node_cluster(...) for a test of faults")


@dataclass(frozen=True)
class Worker:
    """This process as an xdist worker of a session."""

    id: str  # gw0, gw1, ...
    count: int  # how many workers the session started
    run_uid: str  # the session's testrunuid, shared by all its workers

    @classmethod
    def of(cls, workerinput: dict[str, Any] | None) -> Worker | None:
        if not workerinput:
            return None
        return cls(str(workerinput["workerid"]), int(workerinput["workercount"]), str(workerinput["testrunuid"]))


def meeting_dir(worker: Worker) -> Path:
    base = state_dir.ensure_private_dir(state_dir.user_dir() / SHARED_DIR)
    return state_dir.ensure_private_dir(base / worker.run_uid)


def announce(worker: Worker) -> None:
    """At the start of a worker's session: its pid and start time, to tell a dead worker from a slow one."""
    pid = os.getpid()
    path = meeting_dir(worker) / f"worker-{worker.id}.json"
    path.write_text(json.dumps(Owner(worker.run_uid, pid, process_start_time(pid) or "").as_dict()))


def finished_tests(worker: Worker) -> None:
    """The worker has run its last test: a cluster it uses may be stopped once the others are done too."""
    (meeting_dir(worker) / f"done-{worker.id}").touch()


def wait_for_other_workers(worker: Worker, *, poll: float = POLL, grace: float = LATE_WORKER_GRACE) -> None:
    """Until every other worker of the session has finished its tests or died."""
    directory = meeting_dir(worker)
    started = time.monotonic()
    while True:
        announced = {}
        for path in directory.glob("worker-*.json"):
            try:
                announced[path.stem[len("worker-"):]] = Owner.from_dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # being written
        busy = [wid for wid, owner in announced.items()
                if wid != worker.id and not (directory / f"done-{wid}").exists() and owner.is_alive()]
        silent = len(announced) < worker.count and time.monotonic() - started < grace
        if not busy and not silent:
            return
        time.sleep(poll)


def remove_meeting_dirs() -> None:
    """The controller, at the end of its session: meeting directories none of whose workers lives
    any more (this session's, and those of crashed sessions)."""
    base = state_dir.user_dir_path() / SHARED_DIR
    if not base.is_dir():
        return
    for directory in base.iterdir():
        owners = []
        for path in directory.glob("worker-*.json"):
            try:
                owners.append(Owner.from_dict(json.loads(path.read_text())))
            except (OSError, ValueError):
                continue
        if not any(owner.is_alive() for owner in owners):
            shutil.rmtree(directory, ignore_errors=True)


def spec_key(arguments: dict[str, Any], settings: MeronodesConfig) -> str:
    """The same for every worker that asks for the same cluster."""
    text = json.dumps(spec_fields(make_spec(settings, arguments)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class SharedClusters:
    """The `shared_node_cluster` fixture's callable: one cluster per spec for the whole session."""

    settings: MeronodesConfig
    start: Callable[..., Cluster]  # the session's cluster factory
    worker: Worker | None
    views: dict[str, Cluster] = field(default_factory=dict)
    started_here: list[str] = field(default_factory=list)

    def __call__(self, **arguments: Any) -> Cluster:
        key = spec_key(arguments, self.settings)
        if key not in self.views:
            self.views[key] = self.start(**arguments) if self.worker is None else self._across_workers(key, arguments)
        return self.views[key]

    def _across_workers(self, key: str, arguments: dict[str, Any]) -> Cluster:
        assert self.worker is not None
        directory = meeting_dir(self.worker)
        handoff_path, failed_path = directory / f"{key}.json", directory / f"{key}.failed"
        # as long as a start may take: the worker holding the lock is starting the cluster
        with FileLock(str(directory / f"{key}.lock"), timeout=self.settings.startup_timeout + 120):
            if failed_path.exists():
                raise MeronodesError(f"the shared cluster failed to start in another worker: {failed_path.read_text()}")
            if not handoff_path.exists():
                try:
                    cluster = self.start(**arguments)
                    ClusterHandoff.of(cluster).write(handoff_path)
                except BaseException as error:
                    failed_path.write_text(f"{type(error).__name__}: {error}")
                    raise
                self.started_here.append(key)
            handoff = ClusterHandoff.read(handoff_path)
        return attach(handoff, uncontrolled=UNCONTROLLED)

    def close(self) -> None:
        """A worker that started a shared cluster keeps it running until the others are done with it
        (the session's cluster factory then stops it, or keeps it with --reuse-nodes)."""
        if self.worker is not None and self.started_here:
            finished_tests(self.worker)
            wait_for_other_workers(self.worker)
        self.views.clear()
