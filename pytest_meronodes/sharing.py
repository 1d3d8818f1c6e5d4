"""One cluster shared by every xdist worker of a session (`shared_node_cluster(...)`), for expensive
session fixtures: started once, by whichever worker asks first, under a file lock; handed to the
others through its handoff file; stopped by the worker that started it once every other worker
has finished its tests (or died).

The workers of a session meet in a private directory named by an id the controller gives its
workers (SESSION_KEY in workerinput; fresh per session, unlike xdist's `--testrunuid`):
  worker-<id>.json   a worker's pid and start time (written when its session starts)
  done-<id>          a worker needs no shared cluster any more (written when its shared clusters'
                     fixture is torn down, before it waits for anyone: two workers that each
                     started a cluster never wait for each other; or at its session's end)
  <key>.lock         the lock a cluster is started under; <key>.json its handoff (removed before
                     the cluster is stopped: a late worker starts a new one), <key>.failed the
                     error its start raised (the other workers report it instead of retrying)
Without xdist, a shared cluster is simply a session cluster."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import state_dir
from .cluster import Cluster
from .config import MeronodesConfig
from .errors import MeronodesError
from .handoff import ClusterHandoff, attach
from .ownership import Owner, process_start_time
from .reuse import spec_fields
from .spec import make_spec

SHARED_DIR = "shared"  # in this user's private state directory
SESSION_KEY = "meronodes_session"  # in each worker's workerinput: the session's meeting place
MEETING_MIN_AGE = 60.0  # seconds: a younger meeting directory may belong to a session just starting
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
        session = workerinput.get(SESSION_KEY) or workerinput["testrunuid"]
        return cls(str(workerinput["workerid"]), int(workerinput["workercount"]), str(session))


def new_session_id() -> str:
    """The controller's id for its workers' meeting place: never another session's, even one
    started with the same --testrunuid."""
    return f"{os.getpid()}-{secrets.token_hex(6)}"


def meeting_dir(worker: Worker) -> Path:
    base = state_dir.ensure_private_dir(state_dir.user_dir() / SHARED_DIR)
    return state_dir.ensure_private_dir(base / worker.run_uid)


def announce(worker: Worker) -> None:
    """At the start of a worker's session: its pid and start time, to tell a dead worker from a
    slow one (written whole or not at all)."""
    pid = os.getpid()
    owner = Owner(worker.run_uid, pid, process_start_time(pid) or "")
    state_dir.write_private(meeting_dir(worker) / f"worker-{worker.id}.json", json.dumps(owner.as_dict()))


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
    any more (this session's, and those of crashed sessions). Only real directories of this user,
    in this user's checked private directory (never through a symbolic link), and none so young
    that its session may be starting."""
    try:
        base = state_dir.ensure_private_dir(state_dir.user_dir() / SHARED_DIR)
    except OSError:  # not there, or unsafe (StateDirError): nothing of ours to remove
        return
    for entry in os.scandir(base):
        info = entry.stat(follow_symlinks=False)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue
        if time.time() - info.st_mtime < MEETING_MIN_AGE and not any(Path(entry.path).glob("worker-*.json")):
            continue
        owners = []
        for path in Path(entry.path).glob("worker-*.json"):
            try:
                owners.append(Owner.from_dict(json.loads(path.read_text())))
            except (OSError, ValueError):
                owners.append(Owner("", os.getpid(), ""))  # unreadable now: assume it is alive
        if not any(owner.is_alive() for owner in owners):
            shutil.rmtree(entry.path, ignore_errors=True)


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
    on_view: Callable[[Cluster], None] | None = None  # told each cluster handed out (the plugin's checks)
    views: dict[str, Cluster] = field(default_factory=dict)
    started_here: list[str] = field(default_factory=list)

    def __call__(self, **arguments: Any) -> Cluster:
        key = spec_key(arguments, self.settings)
        if key not in self.views:
            view = self.start(**arguments) if self.worker is None else self._across_workers(key, arguments)
            if self.on_view is not None:
                self.on_view(view)
            self.views[key] = view
        return self.views[key]

    def _lock(self, key: str) -> FileLock:
        assert self.worker is not None
        return FileLock(str(meeting_dir(self.worker) / f"{key}.lock"))

    def _across_workers(self, key: str, arguments: dict[str, Any]) -> Cluster:
        assert self.worker is not None
        directory = meeting_dir(self.worker)
        handoff_path, failed_path = directory / f"{key}.json", directory / f"{key}.failed"
        # as long as a start may take (and, with --reuse-nodes, a kept cluster's check and reset)
        wait = self.settings.startup_timeout + 300
        try:
            with self._lock(key).acquire(timeout=wait):
                if failed_path.exists():
                    raise MeronodesError(
                        f"the shared cluster failed to start in another worker: {failed_path.read_text()}")
                if not handoff_path.exists():
                    try:
                        cluster = self.start(**arguments)
                        ClusterHandoff.of(cluster).write(handoff_path)
                    except BaseException as error:
                        failed_path.write_text(f"{type(error).__name__}: {error}")
                        raise
                    self.started_here.append(key)
                handoff = ClusterHandoff.read(handoff_path)
        except Timeout:
            raise MeronodesError(f"the shared cluster {arguments} was still being started by another worker after "
                                 f"{wait:g} s; raise --node-startup-timeout if it is only slow") from None
        return attach(handoff, uncontrolled=UNCONTROLLED)

    def close(self) -> None:
        """This worker needs its shared clusters no more. One that started a shared cluster keeps it
        running until the others are done with it (the session's cluster factory then stops it,
        or keeps it with --reuse-nodes); a worker that comes later starts a new one."""
        if self.worker is not None:
            finished_tests(self.worker)
            if self.started_here:
                wait_for_other_workers(self.worker)
                for key in self.started_here:
                    with self._lock(key):
                        (meeting_dir(self.worker) / f"{key}.json").unlink(missing_ok=True)
        self.views.clear()
