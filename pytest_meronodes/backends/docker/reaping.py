"""What the Docker backend leaves in the engine (containers, networks, volumes), found by its
labels, for the reaper (reaper.py) and `python -m pytest_meronodes ps`. Only this user's, from
this machine (labels.is_ours): another's owner cannot be judged from here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...ownership import Owner
from . import labels as docker_labels
from .firewall import owner_of_tag, remove_tagged
from .runtime import REMOVAL_WAIT, remove_container


def _containers(client: Any, label: str) -> list[tuple[Any, str, dict[str, str]]]:
    """(container, name, labels) from the list call alone: `sparse` inspects nothing, so a
    container another session removes meanwhile cannot make this fail."""
    found = []
    for container in client.containers.list(all=True, sparse=True, filters={"label": label}):
        names = container.attrs.get("Names") or [container.id]
        found.append((container, str(names[0]).lstrip("/"), container.attrs.get("Labels") or {}))
    return found


def _docker_resources(client: Any) -> list[tuple[str, Any, str, dict[str, str]]]:
    """(kind, resource, name, labels) of everything labelled by pytest-meronodes in the engine,
    this user's or not."""
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
    """This user's clusters that still have a container (running or not)."""
    return {
        labels.get(docker_labels.CLUSTER, "")
        for _, _, labels in _containers(client, docker_labels.CLUSTER)
        if docker_labels.is_ours(labels)
    }


def owners(client: Any) -> dict[str, Owner]:
    """Every cluster Docker resources of ours name, and its owner."""
    found: dict[str, Owner] = {}
    for _, _, _, labels in _docker_resources(client):
        cluster = labels.get(docker_labels.CLUSTER, "")
        if cluster and docker_labels.is_ours(labels):
            found.setdefault(cluster, docker_labels.owner_of(labels))
    return found


def reap(client: Any, doomed: Callable[[Owner, str], bool]) -> list[str]:
    """Remove what `doomed(owner, cluster)` condemns: containers first (they hold networks and
    volumes), then networks and volumes. One line per resource, "NOT removed" where it failed."""
    from docker.errors import APIError, NotFound
    from requests import RequestException

    condemned = [
        (kind, resource, name)
        for kind, resource, name, labels in _docker_resources(client)
        if docker_labels.is_ours(labels)
        and doomed(docker_labels.owner_of(labels), labels.get(docker_labels.CLUSTER, ""))
    ]
    lines = []
    for order in ("container", "network", "volume"):
        for kind, resource, name in condemned:
            if kind != order:
                continue
            try:
                if kind == "container":
                    remove_container(resource)  # also waits out another reaper's removal of it
                elif kind == "volume":
                    resource.remove(force=True)
                else:
                    resource.remove()
                lines.append(f"{kind} {name}")
            except NotFound:
                pass
            except APIError as error:
                lines.append(f"{kind} {name}: NOT removed ({error.explanation})")
            except RequestException as error:  # the engine did not answer in time
                lines.append(f"{kind} {name}: NOT removed ({type(error).__name__})")
    # the firewall rules of a dead run's faults (partitions, loss): their tag names run and owner
    lines += remove_tagged(lambda tag: (found := owner_of_tag(tag)) is not None and doomed(*found))
    return lines


PING_TIMEOUT = 5  # seconds: an engine that does not answer this soon is taken as absent


def docker_client_if_any() -> Any:
    """A client when an engine answers, else None (reaping Docker is then a no-op)."""
    try:
        import docker

        client = docker.from_env(timeout=PING_TIMEOUT)
        client.ping()
    except Exception:  # no engine, no socket, no permission: nothing of ours can be there
        return None
    # force-removing a container on a busy engine can take more than the ping's 5 s, and a removal
    # the client gives up on goes on in the engine: its volume stays "in use" and is left behind
    client.api.timeout = REMOVAL_WAIT
    return client


def describe(client: Any) -> list[str]:
    lines = []
    for kind, _, name, labels in _docker_resources(client):
        owner = docker_labels.owner_of(labels)
        if docker_labels.is_ours(labels):
            state = "alive" if owner.is_alive() else "DEAD"
        else:
            state = f"not this user's on this machine (uid {labels.get(docker_labels.OWNER_UID, '?')}): left alone"
        lines.append(
            f"docker {kind} {name} cluster {labels.get(docker_labels.CLUSTER)} "
            f"run {owner.run_id} owner pid {owner.pid} ({state})"
        )
    return lines


class DockerResources:
    """The engine's resources of ours, as the reaper sees any backend's: an EngineResources."""

    kind = "docker"

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def if_reachable(cls) -> DockerResources | None:
        client = docker_client_if_any()
        return cls(client) if client is not None else None

    def live_clusters(self) -> set[str]:
        return live_docker_clusters(self.client)

    def owners(self) -> dict[str, Owner]:
        return owners(self.client)

    def reap(self, doomed: Callable[[Owner, str], bool]) -> list[str]:
        return reap(self.client, doomed)

    def describe(self) -> list[str]:
        return describe(self.client)
