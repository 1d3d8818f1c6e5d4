"""Everything one pytest process's run owns, in one object the plugin creates and passes down:
who owns what it creates (run id, pid, start time), the record a later reaper reads, where
cluster directories go, and the numbering of its clusters. Nothing of it is a module global, so
a forked process or a second run in one process (pytester in-process) gets its own."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .ownership import Owner, new_owner
from .runs import RunRegistry, process_marker


@dataclass
class RunContext:
    owner: Owner
    registry: RunRegistry
    clusters_dir: Path  # where cluster directories are made (--node-base-dir, or the user's own)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, clusters_dir: Path, runs_dir: Path | None = None) -> RunContext:
        owner = new_owner()
        return cls(owner, RunRegistry(runs_dir, owner), clusters_dir)

    def next_cluster_id(self) -> str:
        with self._lock:
            number = next(self._numbers)
        return f"{self.owner.run_id}-c{number}"

    def process_marker(self, cluster_id: str) -> tuple[str, str]:
        """The environment variable every process of the cluster carries (proof for a reaper)."""
        return process_marker(cluster_id, self.owner.run_id)
