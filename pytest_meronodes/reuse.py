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
import importlib.util
import json
import os
import warnings
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
from .runs import claim_path, in_use, read_all
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


def _files(paths: list[str]) -> list[list[Any]]:
    """Each file's path, size and modification time: a rebuilt or edited file is another program."""
    found = []
    for path in paths:
        with contextlib.suppress(OSError):
            info = os.stat(path)
            found.append([path, info.st_size, info.st_mtime_ns])
    return found


def program_identity(settings: MeronodesConfig) -> dict[str, Any] | None:
    """What the nodes run and how the plugin sets them up: the plugin's version and its E2E
    defaults (node_config.py), the merod program (or, for the simulator, its sources), or the
    images by id (a re-pulled tag is another image). None while the merod image is not on this
    machine yet (its id is known only once the start pulled it)."""
    from . import __version__, node_config

    plugin = {"version": __version__, "files": _files([node_config.__file__])}
    if settings.backend == "docker":
        import docker

        client = docker.from_env()
        try:
            image = str(client.images.get(settings.merod_image).id)
        except docker.errors.DockerException:
            return None
        return {"plugin": plugin, "merod_image": image, "auth_image": settings.auth_image,
                "traefik_image": settings.traefik_image, "docker_home": settings.docker_home,
                "node_cpus": settings.node_cpus, "node_memory": settings.node_memory}
    from .merod_program import SIMULATOR_MODULE, resolve

    program = resolve(settings.merod_binary)
    files = [part for part in program.command if os.path.isfile(part)]
    if program.is_simulator:  # found, not imported: the plugin uses none of the simulator's code
        simulator = importlib.util.find_spec(SIMULATOR_MODULE)
        if simulator is not None and simulator.origin is not None:
            files += sorted(str(path) for path in Path(simulator.origin).parent.glob("*.py"))
    return {"plugin": plugin, "command": list(program.command), "files": _files(files),
            "traefik_binary": settings.traefik_binary, "auth_service": settings.auth_service}


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def reuse_key(spec: ClusterSpec, settings: MeronodesConfig, identity: dict[str, Any]) -> str:
    """Equal for clusters a test could not tell apart, different otherwise: `SPEC-PROGRAM`, so that
    a cluster of the same spec on an older program can be recognised as superseded."""
    return f"{_digest({'backend': settings.backend, 'spec': spec_fields(spec)})}-{_digest(identity)}"


def same_spec(key: str, other: str) -> bool:
    return key.split("-", 1)[0] == other.split("-", 1)[0]


@dataclass
class ReuseStore:
    """One session's reusable clusters: those it claimed, and those it started to leave behind."""

    settings: MeronodesConfig
    runs_dir: Path | None = None  # default: this user's private runs directory
    on_reuse: Callable[[Cluster], None] | None = None  # the reset hook
    reap: Callable[[str], None] | None = None  # removes a kept cluster (its session has ended)
    claims: dict[str, FileLock] = field(default_factory=dict)
    started: list[Cluster] = field(default_factory=list)  # the real clusters behind views this session made
    _identity: dict[str, Any] | None = None

    @property
    def directory(self) -> Path:
        return state_dir.runs_dir() if self.runs_dir is None else state_dir.ensure_private_dir(self.runs_dir)

    def key(self, spec: ClusterSpec) -> str | None:
        """The cluster's reuse key; None while what the nodes run is not known yet (an image not
        pulled yet: no kept cluster can be one of it)."""
        if self._identity is None:
            self._identity = program_identity(self.settings)
            if self._identity is None:
                return None
        return reuse_key(spec, self.settings, self._identity)

    def take(self, key: str) -> Cluster | None:
        """A kept cluster with this key, claimed, checked and reset; None if there is none that works."""
        failed: set[str] = set()
        while True:
            cluster_id = self._claim_one(key, failed)
            if cluster_id is None:
                return None
            view = self._checked_view(cluster_id)
            if view is not None:
                if self.on_reuse is not None:
                    self.on_reuse(view)
                return view
            failed.add(cluster_id)  # never checked twice, even if it cannot be removed
            self._remove(cluster_id)

    def _candidates(self, wanted: Callable[[str], bool]) -> list[str]:
        return [cluster_id for _, record in read_all(self.directory) for cluster_id, cluster in record.clusters.items()
                if cluster.kept and cluster.reuse_key and wanted(cluster.reuse_key)]

    def _claim_one(self, key: str, skip: set[str]) -> str | None:
        runs = self.directory
        with FileLock(str(runs / REUSE_LOCK), timeout=60):
            for cluster_id in self._candidates(lambda found: found == key):
                if cluster_id in self.claims or cluster_id in skip:
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
            warnings.warn(f"pytest-meronodes: the cluster {cluster_id} kept for reuse does not work any more "
                          f"({str(error).splitlines()[0]}); removing it and starting a new one", stacklevel=2)
            return None
        return view

    def _remove(self, cluster_id: str) -> None:
        """Remove a kept cluster (its session has ended): the claim goes first, since the reaper
        leaves a cluster some session claims alone."""
        lock = self.claims.pop(cluster_id, None)
        if lock is not None:
            lock.release()
        if self.reap is not None:
            self.reap(cluster_id)

    def adopt(self, cluster: Cluster, spec: ClusterSpec, mark: Callable[[str, str], None]) -> Cluster:
        """A cluster this session just started (outliving it), made reusable: its handoff written,
        recorded as kept with its key (`mark`), claimed; kept clusters of the same spec on another
        program (a rebuilt merod, another image) are removed, as nothing would take them again. The
        tests get a view, like a later session's."""
        if cluster.directory is None:
            raise MeronodesError(f"cluster {cluster.id} has no directory to keep its handoff in")
        self._identity = None  # known now for certain: the start pulled a missing image
        key = self.key(spec)
        if key is None:
            raise MeronodesError(f"cluster {cluster.id} started, but its merod image {self.settings.merod_image} is "
                                 f"not on this machine: it cannot be kept for reuse")
        handoff = ClusterHandoff.of(cluster)
        handoff.write(cluster.directory / HANDOFF_FILE)
        lock = FileLock(str(claim_path(self.directory, cluster.id)))
        lock.acquire(timeout=0)  # new: nobody else knows it yet
        self.claims[cluster.id] = lock
        mark(cluster.id, key)
        self.started.append(cluster)
        for superseded in self._candidates(lambda found: found != key and same_spec(found, key)):
            if superseded not in self.claims and not in_use(self.directory, superseded):
                self._remove(superseded)
        return attach(handoff, uncontrolled=UNCONTROLLED)

    def release(self) -> None:
        """At the session's end: the clusters stay, for the next session to claim."""
        for lock in self.claims.values():
            lock.release()
        self.claims.clear()
