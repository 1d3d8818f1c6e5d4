"""Clusters kept for reuse across sessions (`--reuse-nodes`), for a fast edit-run loop.

A session cluster started with the option is left running after the session, recorded as kept
with a reuse key: a hash of everything that makes two clusters interchangeable (the spec, the
backend, the merod program or image and the settings the nodes run with). The next session that
asks for a cluster with the same key claims it (a file lock held for the whole session, so two
concurrent sessions never share one by accident), attaches to it from its handoff file, checks it
(alive, health, a token, the mesh as wired) and hands it to the tests after the reset hook
(`pytest_meronodes_reset_cluster`). A cluster that fails the check is removed the way `reap`
removes it, and a new one started. `python -m pytest_meronodes ps` lists reusable clusters,
`reap --cluster ID` or `reap --reusable` removes them."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import state_dir
from .cluster import Cluster
from .config import MeronodesConfig
from .errors import MeronodesError
from .handoff import HANDOFF_FILE, ClusterHandoff, attach, check
from .runs import claim_path, read_all
from .spec import ClusterSpec

REUSE_LOCK = ".reuse.lock"  # in the runs directory: one session at a time looks for a cluster to claim
CHECK_TIMEOUT = 10.0  # seconds a kept cluster may take to prove it works before it is replaced
UNCONTROLLED = ("it is kept for reuse (--reuse-nodes): stopping or faulting it would break the next session's "
                "cluster; use node_cluster(...) for a test of faults")


def spec_fields(spec: ClusterSpec) -> dict[str, Any]:
    """The spec as plain data, with each custom config file's content (not only its path)."""
    contents = []
    for path in spec.config_path:
        contents.append(hashlib.sha256(path.read_bytes()).hexdigest() if path is not None else None)
    return {
        "count": spec.count, "auth": spec.auth, "config": json.loads(json.dumps(dict(spec.config), default=str)),
        "config_files": contents, "log_level": spec.log_level, "names": list(spec.names),
        "topology": spec.topology, "wiring": [list(peers) for peers in spec.wiring],
    }


def program_identity(settings: MeronodesConfig) -> dict[str, Any]:
    """What the nodes run: the merod program (its file's size and time: a rebuilt binary is another
    merod) or the images by id (a re-pulled tag is another image)."""
    if settings.backend == "docker":
        import docker

        client = docker.from_env()

        def image(name: str) -> str:
            try:
                return str(client.images.get(name).id)
            except docker.errors.DockerException:
                return name

        return {"merod_image": image(settings.merod_image), "auth_image": settings.auth_image,
                "traefik_image": settings.traefik_image, "docker_home": settings.docker_home,
                "node_cpus": settings.node_cpus, "node_memory": settings.node_memory}
    from .merod_program import resolve

    program = resolve(settings.merod_binary)
    files = []
    for part in program.command:
        with contextlib.suppress(OSError):
            if os.path.isfile(part):
                info = os.stat(part)
                files.append([part, info.st_size, info.st_mtime_ns])
    return {"command": list(program.command), "files": files, "traefik_binary": settings.traefik_binary,
            "auth_service": settings.auth_service}


def reuse_key(spec: ClusterSpec, settings: MeronodesConfig, identity: dict[str, Any]) -> str:
    """Equal for clusters a test could not tell apart, different otherwise."""
    text = json.dumps({"backend": settings.backend, "spec": spec_fields(spec), "program": identity}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class ReuseStore:
    """One session's reusable clusters: those it claimed, and those it started to leave behind."""

    settings: MeronodesConfig
    runs_dir: Path | None = None  # default: this user's private runs directory
    on_reuse: Callable[[Cluster], None] | None = None  # the reset hook
    reap: Callable[[str], None] | None = None  # removes a cluster that failed its check
    claims: dict[str, FileLock] = field(default_factory=dict)
    started: list[Cluster] = field(default_factory=list)  # the real clusters behind views this session made
    _identity: dict[str, Any] | None = None

    @property
    def directory(self) -> Path:
        return state_dir.runs_dir() if self.runs_dir is None else state_dir.ensure_private_dir(self.runs_dir)

    def key(self, spec: ClusterSpec) -> str:
        if self._identity is None:
            self._identity = program_identity(self.settings)
        return reuse_key(spec, self.settings, self._identity)

    def take(self, key: str) -> Cluster | None:
        """A kept cluster with this key, claimed, checked and reset; None if there is none that works."""
        while True:
            cluster_id = self._claim_one(key)
            if cluster_id is None:
                return None
            view = self._checked_view(cluster_id)
            if view is not None:
                if self.on_reuse is not None:
                    self.on_reuse(view)
                return view
            self._drop(cluster_id)

    def _claim_one(self, key: str) -> str | None:
        runs = self.directory
        with FileLock(str(runs / REUSE_LOCK), timeout=60):
            for _, record in read_all(runs):
                for cluster_id, cluster in record.clusters.items():
                    if cluster.reuse_key != key or not cluster.kept or cluster_id in self.claims:
                        continue
                    lock = FileLock(str(claim_path(runs, cluster_id)))
                    try:
                        lock.acquire(timeout=0)
                    except Timeout:
                        continue  # another live session uses it
                    self.claims[cluster_id] = lock
                    return cluster_id
        return None

    def _checked_view(self, cluster_id: str) -> Cluster | None:
        directory = next((Path(c.directory) for _, record in read_all(self.directory)
                          for cid, c in record.clusters.items() if cid == cluster_id and c.directory), None)
        if directory is None:
            return None
        try:
            view = attach(ClusterHandoff.read(directory / HANDOFF_FILE), uncontrolled=UNCONTROLLED)
            check(view, min(CHECK_TIMEOUT, self.settings.startup_timeout))
        except (MeronodesError, OSError, ValueError, KeyError, TypeError) as error:
            import warnings

            warnings.warn(f"pytest-meronodes: the cluster {cluster_id} kept for reuse does not work any more "
                          f"({str(error).splitlines()[0]}); removing it and starting a new one", stacklevel=2)
            return None
        return view

    def _drop(self, cluster_id: str) -> None:
        """Remove a kept cluster that failed its check (its session has ended: it can be reaped)."""
        if self.reap is not None:
            self.reap(cluster_id)
        lock = self.claims.pop(cluster_id)
        lock.release()
        claim_path(self.directory, cluster_id).unlink(missing_ok=True)

    def adopt(self, cluster: Cluster, key: str, mark: Callable[[str, str], None]) -> Cluster:
        """A cluster this session just started (outliving it), made reusable: its handoff written,
        recorded as kept with its key (`mark`), claimed; the tests get a view like a later session's."""
        if cluster.directory is None:
            raise MeronodesError(f"cluster {cluster.id} has no directory to keep its handoff in")
        handoff = ClusterHandoff.of(cluster)
        handoff.write(cluster.directory / HANDOFF_FILE)
        lock = FileLock(str(claim_path(self.directory, cluster.id)))
        lock.acquire(timeout=0)  # new: nobody else knows it yet
        self.claims[cluster.id] = lock
        mark(cluster.id, key)
        self.started.append(cluster)
        return attach(handoff, uncontrolled=UNCONTROLLED)

    def release(self) -> None:
        """At the session's end: the clusters stay, for the next session to claim."""
        for lock in self.claims.values():
            lock.release()
        self.claims.clear()
