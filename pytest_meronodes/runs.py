"""The record of what each run has created outside Docker: node processes (pid and start time)
and node homes, per cluster. Docker resources carry the same facts in their labels.

One JSON file (0600) per run in this user's private runs directory (state_dir.py), rewritten
atomically on each change, so that a later session (or `python -m pytest_meronodes reap`) can
remove what a crashed run left behind, and only that. A record is a claim, not a proof: what it
names is acted on only when the thing itself proves it belongs to the run (see reaper.py). Each
cluster directory holds a marker file naming its run and cluster, and each process the plugin
starts carries an environment variable naming them (`process_marker`)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import state_dir
from .ownership import Owner, process_start_time

# Where records live by default, unchecked (as of import: the code asks state_dir, which checks).
DEFAULT_RUNS_DIR = state_dir.user_dir_path() / "runs"
# In every directory the plugin creates for a cluster: proof for the reaper that it may delete it.
CLUSTER_MARKER = ".meronodes-cluster"
# In the environment of every process the plugin starts for a cluster: proof for the reaper that it
# may signal it. Not MERONODES_*: the binary backend keeps those away from node environments.
PROCESS_MARKER_ENV = "PYTEST_MERONODES_CLUSTER"


@dataclass
class ClusterRecord:
    directory: str | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)  # {"pid", "started", "role"}
    kept: bool = False
    base: str | None = None  # the base directory the run created `directory` in
    reuse_key: str | None = None  # kept for reuse by later sessions with the same key (reuse.py)


@dataclass
class RunRecord:
    owner: Owner
    clusters: dict[str, ClusterRecord] = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps({
            "owner": self.owner.as_dict(),
            "clusters": {cid: vars(record) for cid, record in self.clusters.items()},
        })

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        raw = json.loads(text)
        clusters = {cid: ClusterRecord(**record) for cid, record in raw.get("clusters", {}).items()}
        return cls(Owner.from_dict(raw["owner"]), clusters)


def process_marker(cluster_id: str, run_id: str) -> tuple[str, str]:
    """The environment variable (name, value) every process of the run's cluster gets."""
    return PROCESS_MARKER_ENV, f"{run_id}/{cluster_id}"


def claim_path(runs_dir: Path, cluster_id: str) -> Path:
    """The lock a session holds on a cluster kept for reuse while it uses it (reuse.py)."""
    return runs_dir / f"claim-{cluster_id}.lock"


def in_use(runs_dir: Path, cluster_id: str) -> bool:
    """Whether a live session holds the cluster's claim (the lock dies with its process)."""
    lock = FileLock(str(claim_path(runs_dir, cluster_id)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def marker_content(run_id: str, cluster_id: str) -> dict[str, str]:
    return {"run_id": run_id, "cluster_id": cluster_id}


def write_cluster_marker(directory: Path, run_id: str, cluster_id: str) -> None:
    """Mark a directory the plugin just created for a cluster (never through a symbolic link)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(directory / CLUSTER_MARKER, flags, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(marker_content(run_id, cluster_id), handle)


def write_record(path: Path, record: RunRecord) -> None:
    state_dir.write_private(path, record.as_json())


class RunRegistry:
    """This process's record; safe to use from several threads. `directory` defaults to this
    user's private runs directory, checked on every write (it may be removed meanwhile)."""

    def __init__(self, directory: Path | None, owner: Owner) -> None:
        self._directory = directory
        self.record = RunRecord(owner)
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        return self._directory if self._directory is not None else state_dir.user_dir_path() / "runs"

    @property
    def path(self) -> Path:
        return self.directory / f"{self.record.owner.run_id}.json"

    def _checked_directory(self) -> Path:
        if self._directory is None:
            return state_dir.runs_dir()
        return state_dir.ensure_private_dir(self._directory, parents=True)

    def _save(self) -> None:
        directory = self._checked_directory()
        path = directory / f"{self.record.owner.run_id}.json"
        if not self.record.clusters:
            path.unlink(missing_ok=True)
            return
        write_record(path, self.record)

    def add_cluster(self, cluster_id: str, directory: Path | None, base: Path | None = None) -> None:
        """Record a cluster; call it right after creating its directory (in `base`, by default the
        directory's parent), which gets the marker that lets a later reaper delete it."""
        with self._lock:
            self._checked_directory()  # an unusable registry fails before anything is marked
            record = ClusterRecord()
            if directory is not None:
                # absolute: a later reaper may run from another working directory
                directory = Path(os.path.abspath(directory))
                write_cluster_marker(directory, self.record.owner.run_id, cluster_id)
                record.directory = str(directory)
                record.base = os.path.abspath(base if base is not None else directory.parent)
            self.record.clusters[cluster_id] = record
            self._save()

    def create_cluster_dir(self, base_dir: Path, cluster_id: str) -> Path:
        """A new cluster's directory, made and recorded together: one that could not be recorded
        (an unusable registry) is removed again, never left where no reaper would find it."""
        directory = base_dir / cluster_id
        directory.mkdir(parents=True, exist_ok=False)
        try:
            self.add_cluster(cluster_id, directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return directory

    def add_process(self, cluster_id: str, pid: int, role: str) -> None:
        with self._lock:
            entry = {"pid": pid, "started": process_start_time(pid) or "", "role": role}
            self.record.clusters.setdefault(cluster_id, ClusterRecord()).processes.append(entry)
            self._save()

    def keep(self, cluster_id: str) -> None:
        with self._lock:
            if cluster_id in self.record.clusters:
                self.record.clusters[cluster_id].kept = True
                self._save()

    def mark_reusable(self, cluster_id: str, key: str) -> None:
        """Kept, for a later session asking for a cluster with this key."""
        with self._lock:
            if cluster_id in self.record.clusters:
                self.record.clusters[cluster_id].kept = True
                self.record.clusters[cluster_id].reuse_key = key
                self._save()

    def remove_cluster(self, cluster_id: str) -> None:
        with self._lock:
            self.record.clusters.pop(cluster_id, None)
            self._save()


def _read_own_file(path: Path) -> str | None:
    """The text of a regular file of this user; None for anything else (a symbolic link, a FIFO, a
    file another user put here): what it claims is never acted on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        return handle.read().decode("utf-8", errors="replace")


def read_all(directory: Path | None = None) -> list[tuple[Path, RunRecord]]:
    """The records of this user's runs; files of other users are skipped as if absent."""
    directory = state_dir.runs_dir() if directory is None else state_dir.ensure_private_dir(directory)
    records = []
    for path in sorted(directory.glob("*.json")):
        text = _read_own_file(path)
        if text is None:
            continue
        try:
            records.append((path, RunRecord.from_json(text)))
        except (ValueError, KeyError, TypeError):
            continue  # not a record of ours
    return records
