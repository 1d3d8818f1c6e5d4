"""Removing what dead runs left behind: processes, node homes, port reservations and Docker
containers, networks and volumes. A resource is removed only when its owning process is gone
(pid *and* start time), and a cluster deliberately kept only when it is named.

A run's record (runs.py) is only a claim, read from this user's private directory and only from
files this user owns. What it names is acted on only when the thing itself proves it is the run's:
- a process: the recorded start time, this user's uid, and the environment marker the plugin gave
  every process of the cluster (`runs.process_marker`), which /proc shows to its own user alone;
- a directory: inside the per-user clusters directory or the base directory the run recorded,
  reached without a symbolic link, owned by this user, and holding the marker file the plugin wrote
  when it created it, naming the run and the cluster;
- a Docker resource: labels naming this user and this machine's boot and pid namespace (where the
  owner's pid and start time mean something), as well as the owner.
Anything else named in a record is left alone and reported as such."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from . import state_dir
from .backends import engine_resources
from .backends.base import EngineResources
from .errors import MeronodesError
from .ownership import Owner, process_environment, process_start_time, process_uid
from .ports import PortRegistry
from .runs import (
    CLUSTER_MARKER,
    ClusterRecord,
    claim_path,
    in_use,
    marker_content,
    process_marker,
    read_all,
    write_record,
)
from .runtime import STOP_GRACE

REAP_LOCK = ".reap.lock"  # in the runs directory
REAP_LOCK_TIMEOUT = 120.0  # seconds: another reaper removing a large cluster


@dataclass
class Reaped:
    processes: list[str] = field(default_factory=list)
    homes: list[str] = field(default_factory=list)
    reservations: list[int] = field(default_factory=list)
    engine: list[str] = field(default_factory=list)  # containers, networks, volumes (EngineResources)
    refused: list[str] = field(default_factory=list)  # named by a record, not proven ours: left alone

    def __bool__(self) -> bool:
        return bool(self.processes or self.homes or self.reservations or self.engine or self.refused)

    def summary(self, *, itemize_refused: bool = True) -> str:
        """One line. What was left alone is rare (a record naming what is not its run's) and is
        not listed anywhere else, so it is itemized unless the caller prints it itself."""
        parts = [
            f"{len(self.processes)} process(es)",
            f"{len(self.homes)} home(s)",
            f"{len(self.reservations)} port reservation(s)",
            f"{len(self.engine)} Docker resource(s)",
        ]
        text = "removed " + ", ".join(parts)
        if self.refused:
            text += f"; left alone {len(self.refused)} item(s) dead runs' records named without proof they were theirs"
            if itemize_refused:
                text += ": " + "; ".join(self.refused)
        return text


class Outcome(Enum):
    GONE = "gone"  # nothing (left) to do
    DONE = "done"
    REFUSED = "refused"


# -- processes -------------------------------------------------------------------------------------
def proves_ours(pid: int, started: str, marker: tuple[str, str]) -> bool:
    """Whether `pid` is the very process a run started: the same start time (so not a recycled
    pid), this user's, and started with the run's marker in its environment. Nobody can forge the
    last for a process of this user: /proc shows a process's environment to its own user only."""
    if not started or process_start_time(pid) != started or process_uid(pid) != os.geteuid():
        return False
    environment = process_environment(pid)
    if environment is None or f"{marker[0]}={marker[1]}".encode() not in environment:
        return False
    return process_start_time(pid) == started  # and it is still that process


def _signal(pid: int, signum: int) -> None:
    """The process and its group (nodes lead their own group: a wrapper script's merod too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _kill(pid: int, started: str, marker: tuple[str, str]) -> Outcome:
    """SIGTERM, a grace period, SIGKILL; only if the pid is provably the process the run started."""
    now = process_start_time(pid)
    if now is None or (started and now and now != started):
        return Outcome.GONE  # exited; the pid may be another process's by now
    if not proves_ours(pid, started, marker):
        return Outcome.REFUSED
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and process_start_time(pid) == started:
        time.sleep(0.02)
    if process_start_time(pid) == started:
        _signal(pid, signal.SIGKILL)
    return Outcome.DONE


# -- directories -----------------------------------------------------------------------------------
def _inside(path: str, base: str) -> bool:
    return path == base or path.startswith(base.rstrip(os.sep) + os.sep)


def _read_marker(directory_fd: int) -> object:
    """The marker file in the directory, if it is a regular file of this user; else None."""
    try:
        fd = os.open(CLUSTER_MARKER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory_fd)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            return None
        try:
            return json.loads(handle.read(4096))
        except ValueError:
            return None


def _remove_entry(directory_fd: int, name: str) -> None:
    """Remove one entry of a directory held open, never following a symbolic link."""
    with contextlib.suppress(FileNotFoundError):  # gone meanwhile: nothing to do
        if stat.S_ISDIR(os.stat(name, dir_fd=directory_fd, follow_symlinks=False).st_mode):
            if sys.version_info >= (3, 11):
                shutil.rmtree(name, dir_fd=directory_fd)
            else:  # pragma: no cover - the same, through the descriptor's /proc name
                shutil.rmtree(f"/proc/self/fd/{directory_fd}/{name}")
        else:
            os.unlink(name, dir_fd=directory_fd)


def remove_home(directory: str, bases: Iterable[str | None], run_id: str, cluster_id: str) -> tuple[Outcome, str]:
    """Delete a cluster directory a record names, if it proves to be that cluster's (see the module
    docstring); the reason when it does not. The checked directory is held open and emptied through
    that descriptor, so nothing swapped in after the checks is touched (at most an empty directory
    of that name would be removed)."""
    path = os.path.abspath(directory)
    parent, name = os.path.split(path)
    if not name or name in (".", ".."):
        return Outcome.REFUSED, "not a cluster directory"
    real_parent = os.path.realpath(parent)
    allowed = [os.path.realpath(base) for base in bases if base]
    if not any(_inside(real_parent, base) for base in allowed):
        return Outcome.REFUSED, f"outside the run's base directory ({', '.join(allowed)})"
    try:
        parent_fd = os.open(real_parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return Outcome.GONE, ""
    try:
        try:
            info = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return Outcome.GONE, ""
        if stat.S_ISLNK(info.st_mode):
            return Outcome.REFUSED, "a symbolic link"
        if not stat.S_ISDIR(info.st_mode):
            return Outcome.REFUSED, "not a directory"
        if info.st_uid != os.geteuid():
            return Outcome.REFUSED, f"belongs to uid {info.st_uid}"
        try:
            directory_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
        except OSError as error:
            return Outcome.REFUSED, f"cannot open it ({error.strerror})"
        try:
            if not os.path.samestat(os.fstat(directory_fd), info):
                return Outcome.REFUSED, "replaced while it was checked"
            if _read_marker(directory_fd) != marker_content(run_id, cluster_id):
                return Outcome.REFUSED, f"no marker of cluster {cluster_id} ({CLUSTER_MARKER})"
            # the marker goes last: a removal cut short can still be proven and finished
            for entry in sorted(os.listdir(directory_fd), key=lambda entry: entry == CLUSTER_MARKER):
                _remove_entry(directory_fd, entry)
        finally:
            os.close(directory_fd)
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(name, dir_fd=parent_fd)
    except OSError as error:
        return Outcome.DONE, f"NOT removed ({error.strerror}: {error.filename or name})"
    finally:
        os.close(parent_fd)
    return Outcome.DONE, ""


# -- runs ------------------------------------------------------------------------------------------
def _nothing_runs(
    run_id: str, cluster_id: str, processes: list[dict[str, Any]], live_docker: set[str] | None
) -> bool:
    """A kept cluster with nothing left running is kept no longer: for a native one, no recorded
    process is still the run's; for a Docker one (no processes recorded), no container is labelled
    with it (known only when an engine answered)."""
    if processes:
        marker = process_marker(cluster_id, run_id)
        return not any(proves_ours(int(p["pid"]), str(p.get("started", "")), marker) for p in processes)
    return live_docker is not None and cluster_id not in live_docker


def _doomed(owner: Owner, kept: bool, cluster: str, clusters: Iterable[str] | None) -> bool:
    """Never a live session's. A kept cluster only when named; others once their owner is dead."""
    if owner.is_alive():
        return False
    if clusters is not None:
        return cluster in clusters
    return not kept


def reap_local(
    *, clusters: Iterable[str] | None = None, runs_dir: Path | None = None,
    ports_dir: Path | None = None, result: Reaped | None = None, live_clusters: set[str] | None = None,
) -> Reaped:
    """Processes and homes recorded by dead runs (or the named clusters), and dead reservations."""
    directory = state_dir.runs_dir() if runs_dir is None else state_dir.ensure_private_dir(runs_dir)
    with _one_reaper(directory):
        return _reap_local(directory, clusters, ports_dir, result, live_clusters)


def _one_reaper(directory: Path) -> FileLock:
    """One reaper at a time per user, for records and engines alike: two sessions starting
    together must not both act on one record, nor remove one container together (the loser of
    that race would find its volume "in use" and leave it)."""
    return FileLock(str(directory / REAP_LOCK), timeout=REAP_LOCK_TIMEOUT)


def _reap_local(
    directory: Path, clusters: Iterable[str] | None, ports_dir: Path | None, result: Reaped | None,
    live_clusters: set[str] | None,
) -> Reaped:
    if result is None:
        result = Reaped()
    wanted = set(clusters) if clusters is not None else None
    _reap_records(directory, wanted, str(state_dir.clusters_dir()), result, live_clusters)
    registry = ports_dir if ports_dir is not None else state_dir.ports_dir_path()
    if registry.is_dir():
        result.reservations.extend(PortRegistry((1024, 65535), registry).reclaim_dead())
    return result


def _reap_records(
    directory: Path, wanted: set[str] | None, default_base: str, result: Reaped, live_clusters: set[str] | None
) -> None:
    for path, record in read_all(directory):
        run_id = record.owner.run_id
        remaining = {}
        for cluster_id, cluster in record.clusters.items():
            kept = cluster.kept and not _nothing_runs(run_id, cluster_id, cluster.processes, live_clusters)
            if not _doomed(record.owner, kept, cluster_id, wanted):
                remaining[cluster_id] = cluster
                continue
            claim = None
            if cluster.reuse_key:  # kept for reuse: never while a session holds it (reuse.py)
                claim = FileLock(str(claim_path(directory, cluster_id)))
                try:
                    claim.acquire(timeout=0)
                except Timeout:
                    remaining[cluster_id] = cluster
                    result.refused.append(f"cluster {cluster_id}: kept for reuse and in use by a running session")
                    continue
            try:
                _reap_cluster(cluster_id, cluster, run_id, default_base, result)
            finally:
                if claim is not None:
                    claim.release()
                claim_path(directory, cluster_id).unlink(missing_ok=True)
        if not remaining:
            path.unlink(missing_ok=True)
        elif len(remaining) != len(record.clusters):
            record.clusters = remaining
            write_record(path, record)


def _reap_cluster(cluster_id: str, cluster: ClusterRecord, run_id: str, default_base: str, result: Reaped) -> None:
    """A dead run's cluster: its processes, then its directory, each only when proven the run's."""
    marker = process_marker(cluster_id, run_id)
    for process in cluster.processes:
        pid, role = int(process["pid"]), process.get("role", "process")
        outcome = _kill(pid, str(process.get("started", "")), marker)
        if outcome is Outcome.DONE:
            result.processes.append(f"{role} pid {pid} ({cluster_id})")
        elif outcome is Outcome.REFUSED:
            result.refused.append(f"{role} pid {pid} ({cluster_id}): not a process this run started")
    if cluster.directory:
        outcome, why = remove_home(cluster.directory, [default_base, cluster.base], run_id, cluster_id)
        if outcome is Outcome.DONE:
            result.homes.append(f"{cluster.directory}: {why}" if why else cluster.directory)
        elif outcome is Outcome.REFUSED:
            result.refused.append(f"home {cluster.directory} ({cluster_id}): {why}")


# -- everything -----------------------------------------------------------------------------------
def reap(*, clusters: Iterable[str] | None = None, engines: list[EngineResources] | None = None) -> Reaped:
    """What dead runs left (or the named clusters), wherever it is: processes, homes and
    reservations from the records, and what the backends' engines hold (engines: those that
    answer now, unless given)."""
    engines = engine_resources() if engines is None else engines
    directory = state_dir.runs_dir()
    with _one_reaper(directory):
        live: set[str] | None = None
        if engines:  # known only when an engine answered
            live = set().union(*(engine.live_clusters() for engine in engines))
        result = _reap_local(directory, clusters, None, None, live)
        result.engine.extend(reap_engines(engines, clusters=clusters, runs_dir=directory))
    return result


def reap_engines(
    engines: list[EngineResources], *, clusters: Iterable[str] | None = None, runs_dir: Path | None = None
) -> list[str]:
    """The engines' resources of dead runs (or of the named clusters), never a kept cluster's
    unless named; one line per resource."""
    wanted = set(clusters) if clusters is not None else None
    kept = kept_clusters(runs_dir)
    held = claimed_clusters(runs_dir)  # kept for reuse and in use: never, even when named
    lines = []
    for engine in engines:
        lines += engine.reap(
            lambda owner, cluster: cluster not in held and _doomed(owner, cluster in kept, cluster, wanted)
        )
    return lines


def cluster_owners(runs_dir: Path | None = None, engines: list[EngineResources] | None = None) -> dict[str, Owner]:
    """Every cluster this user's runs recorded, or an engine's resources of ours name, and its owner."""
    owners = {cid: record.owner for _, record in read_all(runs_dir) for cid in record.clusters}
    for engine in engine_resources() if engines is None else engines:
        for cluster, owner in engine.owners().items():
            owners.setdefault(cluster, owner)
    return owners


def reusable_clusters(runs_dir: Path | None = None) -> set[str]:
    """The clusters kept for reuse (--reuse-nodes) that no running session uses now."""
    return {cid for cid, held in _kept_for_reuse(runs_dir).items() if not held}


def claimed_clusters(runs_dir: Path | None = None) -> set[str]:
    """The clusters kept for reuse that a running session uses now."""
    return {cid for cid, held in _kept_for_reuse(runs_dir).items() if held}


def _kept_for_reuse(runs_dir: Path | None) -> dict[str, bool]:
    """Every cluster kept for reuse, and whether a running session holds its claim."""
    directory = state_dir.runs_dir() if runs_dir is None else runs_dir
    return {cid: in_use(directory, cid) for _, record in read_all(runs_dir)
            for cid, cluster in record.clusters.items() if cluster.kept and cluster.reuse_key}


def kept_clusters(runs_dir: Path | None = None) -> set[str]:
    return {cid for _, record in read_all(runs_dir) for cid, cluster in record.clusters.items() if cluster.kept}


# -- ps --------------------------------------------------------------------------------------------
def _describe_ports() -> list[str]:
    registry = state_dir.ports_dir_path()
    if not registry.is_dir():
        return []
    try:
        reservations = PortRegistry((1024, 65535), registry).reservations()
    except (MeronodesError, OSError) as error:
        return [f"port registry {registry}: {error}"]
    ours: dict[Owner | None, list[int]] = {}
    foreign: dict[int, list[int]] = {}
    for reservation in reservations:
        if reservation.foreign:
            foreign.setdefault(reservation.uid, []).append(reservation.port)
        else:
            ours.setdefault(reservation.owner, []).append(reservation.port)
    lines = []
    for owner, ports in ours.items():
        who = f"run {owner.run_id} owner pid {owner.pid} ({'alive' if owner.is_alive() else 'DEAD'})" if owner \
            else "an unreadable reservation"
        lines.append(f"ports {', '.join(map(str, ports))} reserved by {who}")
    for uid, ports in sorted(foreign.items()):
        lines.append(f"ports {', '.join(map(str, ports))} reserved by another user (uid {uid}): theirs, left alone")
    return lines


def describe() -> list[str]:
    """What exists now, for `python -m pytest_meronodes ps`: this user's runs, every port
    reservation (other users' as such) and the Docker resources of pytest-meronodes."""
    lines = []
    for _, record in read_all():
        state = "alive" if record.owner.is_alive() else "DEAD"
        lines.append(f"run {record.owner.run_id} owner pid {record.owner.pid} ({state})")
        for cluster_id, cluster in record.clusters.items():
            flag = " [kept]" if cluster.kept else ""
            if cluster.kept and cluster.reuse_key:
                use = "in use by a running session" if in_use(state_dir.runs_dir(), cluster_id) else "free"
                flag = f" [kept for reuse, key {cluster.reuse_key}, {use}]"
            lines.append(f"  cluster {cluster_id}{flag} home {cluster.directory}")
            marker = process_marker(cluster_id, record.owner.run_id)
            for process in cluster.processes:
                pid, started = int(process["pid"]), str(process.get("started", ""))
                if proves_ours(pid, started, marker):
                    state = "running"
                elif process_start_time(pid) not in (None, "") and process_start_time(pid) == started:
                    state = "running, but not started by this run: left alone"
                else:
                    state = "gone"
                lines.append(f"    {process.get('role')} pid {pid} {state}")
    lines += _describe_ports()
    for engine in engine_resources():
        lines += engine.describe()
    return lines or ["nothing of pytest-meronodes exists on this machine"]
