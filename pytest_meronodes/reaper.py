"""Removing what dead runs left behind: processes, node homes, port reservations and Docker
containers, networks and volumes. A resource is removed only when its owning process is gone
(pid *and* start time), and a cluster deliberately kept only when it is named."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import docker_labels
from .ownership import Owner, process_start_time
from .ports import DEFAULT_REGISTRY, PortRegistry
from .runs import DEFAULT_RUNS_DIR, read_all

STOP_GRACE = 3.0


@dataclass
class Reaped:
    processes: list[str] = field(default_factory=list)
    homes: list[str] = field(default_factory=list)
    reservations: list[int] = field(default_factory=list)
    docker: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.processes or self.homes or self.reservations or self.docker)

    def summary(self) -> str:
        parts = [
            f"{len(self.processes)} process(es)",
            f"{len(self.homes)} home(s)",
            f"{len(self.reservations)} port reservation(s)",
            f"{len(self.docker)} Docker resource(s)",
        ]
        return "removed " + ", ".join(parts)


def _signal(pid: int, signum: int) -> None:
    """The process and its group (nodes lead their own group: a wrapper script's merod too)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _kill(pid: int, started: str) -> bool:
    """SIGTERM, a grace period, SIGKILL; only if the pid is still the process we started."""
    if not started or process_start_time(pid) != started:
        return False
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline and process_start_time(pid) == started:
        time.sleep(0.02)
    if process_start_time(pid) == started:
        _signal(pid, signal.SIGKILL)
    return True


def _nothing_runs(cluster_id: str, processes: list[dict[str, Any]], live_docker: set[str] | None) -> bool:
    """A kept cluster with nothing left running is kept no longer: for a native one, every
    recorded process is gone; for a Docker one (no processes recorded), no container is labelled
    with it (known only when an engine answered)."""
    if processes:
        return all(process_start_time(int(p["pid"])) != p.get("started") for p in processes)
    return live_docker is not None and cluster_id not in live_docker


def _doomed(owner: Owner, kept: bool, cluster: str, clusters: Iterable[str] | None) -> bool:
    """Never a live session's. A kept cluster only when named; others once their owner is dead."""
    if owner.is_alive():
        return False
    if clusters is not None:
        return cluster in clusters
    return not kept


def reap_local(
    *, clusters: Iterable[str] | None = None, runs_dir: Path = DEFAULT_RUNS_DIR,
    ports_dir: Path = DEFAULT_REGISTRY, result: Reaped | None = None, live_docker_clusters: set[str] | None = None,
) -> Reaped:
    """Processes and homes recorded by dead runs (or the named clusters), and dead reservations."""
    result = result or Reaped()
    wanted = set(clusters) if clusters is not None else None
    for path, record in read_all(runs_dir):
        remaining = {}
        for cluster_id, cluster in record.clusters.items():
            kept = cluster.kept and not _nothing_runs(cluster_id, cluster.processes, live_docker_clusters)
            if not _doomed(record.owner, kept, cluster_id, wanted):
                remaining[cluster_id] = cluster
                continue
            for process in cluster.processes:
                if _kill(int(process["pid"]), str(process.get("started", ""))):
                    result.processes.append(f"{process.get('role', 'process')} pid {process['pid']} ({cluster_id})")
            if cluster.directory and Path(cluster.directory).exists():
                shutil.rmtree(cluster.directory, ignore_errors=True)
                gone = not Path(cluster.directory).exists()
                result.homes.append(cluster.directory if gone else f"{cluster.directory}: NOT removed (permissions?)")
        if not remaining:
            path.unlink(missing_ok=True)
        elif len(remaining) != len(record.clusters):
            record.clusters = remaining
            path.write_text(record.as_json())
    if ports_dir.is_dir():
        result.reservations.extend(PortRegistry((1024, 65535), ports_dir).reclaim_dead())
    return result


def _containers(client: Any, label: str) -> list[tuple[Any, str, dict[str, str]]]:
    """(container, name, labels) from the list call alone: `sparse` inspects nothing, so a
    container another session removes meanwhile cannot make this fail."""
    found = []
    for container in client.containers.list(all=True, sparse=True, filters={"label": label}):
        names = container.attrs.get("Names") or [container.id]
        found.append((container, str(names[0]).lstrip("/"), container.attrs.get("Labels") or {}))
    return found


def _docker_resources(client: Any) -> list[tuple[str, Any, str, dict[str, str]]]:
    """(kind, resource, name, labels) of everything of ours in the engine."""
    found: list[tuple[str, Any, str, dict[str, str]]] = []
    label = {"label": docker_labels.RUN}
    for container, name, labels in _containers(client, docker_labels.RUN):
        found.append(("container", container, name, labels))
    for network in client.networks.list(filters=label):
        found.append(("network", network, network.name, network.attrs.get("Labels") or {}))
    for volume in client.volumes.list(filters=label):
        found.append(("volume", volume, volume.name, volume.attrs.get("Labels") or {}))
    return found


def live_docker_clusters(client: Any) -> set[str]:
    """Clusters that still have a container (running or not)."""
    return {labels.get(docker_labels.CLUSTER, "") for _, _, labels in _containers(client, docker_labels.CLUSTER)}


def kept_clusters(runs_dir: Path = DEFAULT_RUNS_DIR) -> set[str]:
    return {cid for _, record in read_all(runs_dir) for cid, cluster in record.clusters.items() if cluster.kept}


def reap_docker(
    client: Any, *, clusters: Iterable[str] | None = None, runs_dir: Path = DEFAULT_RUNS_DIR,
    result: Reaped | None = None,
) -> Reaped:
    """Containers first (they hold networks and volumes), then networks and volumes."""
    from docker.errors import APIError, NotFound

    result = result or Reaped()
    wanted = set(clusters) if clusters is not None else None
    kept = kept_clusters(runs_dir)
    doomed = [
        (kind, resource, name)
        for kind, resource, name, labels in _docker_resources(client)
        if _doomed(docker_labels.owner_of(labels), labels.get(docker_labels.CLUSTER, "") in kept,
                   labels.get(docker_labels.CLUSTER, ""), wanted)
    ]
    for order in ("container", "network", "volume"):
        for kind, resource, name in doomed:
            if kind != order:
                continue
            try:
                if kind == "container":
                    resource.remove(force=True, v=True)
                elif kind == "volume":
                    resource.remove(force=True)
                else:
                    resource.remove()
                result.docker.append(f"{kind} {name}")
            except NotFound:
                pass
            except APIError as error:
                result.docker.append(f"{kind} {name}: NOT removed ({error.explanation})")
    return result


def docker_client_if_any() -> Any:
    """A client when an engine answers, else None (reaping Docker is then a no-op)."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:  # no engine, no socket, no permission: nothing of ours can be there
        return None
    return client


def describe() -> list[str]:
    """What exists now, for `python -m pytest_meronodes ps`."""
    lines = []
    for _, record in read_all(DEFAULT_RUNS_DIR):
        state = "alive" if record.owner.is_alive() else "DEAD"
        lines.append(f"run {record.owner.run_id} owner pid {record.owner.pid} ({state})")
        for cluster_id, cluster in record.clusters.items():
            flag = " [kept]" if cluster.kept else ""
            lines.append(f"  cluster {cluster_id}{flag} home {cluster.directory}")
            for process in cluster.processes:
                alive = process_start_time(int(process["pid"])) == process.get("started")
                lines.append(f"    {process.get('role')} pid {process['pid']} {'running' if alive else 'gone'}")
    client = docker_client_if_any()
    if client is not None:
        for kind, _, name, labels in _docker_resources(client):
            owner = docker_labels.owner_of(labels)
            state = "alive" if owner.is_alive() else "DEAD"
            lines.append(
                f"docker {kind} {name} cluster {labels.get(docker_labels.CLUSTER)} "
                f"run {owner.run_id} owner pid {owner.pid} ({state})"
            )
    return lines or ["nothing of pytest-meronodes exists on this machine"]
