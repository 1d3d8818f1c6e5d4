"""The record of what each run has created outside Docker: node processes (pid and start time)
and node homes, per cluster. Docker resources carry the same facts in their labels.

One JSON file per run in a directory every process on the machine shares, rewritten atomically
on each change, so that a later session (or `python -m pytest_meronodes reap`) can remove what a
crashed run left behind, and only that."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ownership import Owner, current_owner, process_start_time

DEFAULT_RUNS_DIR = Path(tempfile.gettempdir()) / "pytest-meronodes" / "runs"


@dataclass
class ClusterRecord:
    directory: str | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)  # {"pid", "started", "role"}
    kept: bool = False


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


class RunRegistry:
    """This process's record; safe to use from several threads."""

    def __init__(self, directory: Path = DEFAULT_RUNS_DIR, owner: Owner | None = None) -> None:
        self.directory = directory
        self.record = RunRecord(owner or current_owner())
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self.directory / f"{self.record.owner.run_id}.json"

    def _save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.record.clusters:
            self.path.unlink(missing_ok=True)
            return
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".run-")
        with os.fdopen(fd, "w") as handle:
            handle.write(self.record.as_json())
        os.replace(temporary, self.path)

    def add_cluster(self, cluster_id: str, directory: Path | None) -> None:
        with self._lock:
            self.record.clusters[cluster_id] = ClusterRecord(str(directory) if directory else None)
            self._save()

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

    def remove_cluster(self, cluster_id: str) -> None:
        with self._lock:
            self.record.clusters.pop(cluster_id, None)
            self._save()


_registry: RunRegistry | None = None
_registry_lock = threading.Lock()


def current_run() -> RunRegistry:
    global _registry
    with _registry_lock:
        if _registry is None or _registry.record.owner != current_owner():
            _registry = RunRegistry()
        return _registry


def read_all(directory: Path = DEFAULT_RUNS_DIR) -> list[tuple[Path, RunRecord]]:
    records = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            records.append((path, RunRecord.from_json(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being rewritten, or not ours
    return records
