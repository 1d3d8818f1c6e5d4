"""The interfaces a backend implements. The start path (start.py) is written once; a backend
supplies only what is really its own: where a node's home and ports are, how `merod init` and
`merod run` are executed, how a node is removed, and the proxy stack for auth="proxy"."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..cluster import Cluster
from ..config import MeronodesConfig
from ..ownership import Owner
from ..run_context import RunContext
from ..runtime import NodeRuntime
from ..spec import ClusterSpec
from ..versions import MerodRelease
from .swarm import NetworkFaults, NodeSlot

ADMIN_USER = "meronodes-admin"  # the admin the plugin creates for auth="embedded" and "proxy"


@dataclass(frozen=True)
class InitResult:
    exit_code: int | None  # None: init did not finish before the deadline (and was stopped)
    output: str
    config_text: str = ""  # the config.toml init wrote, when it succeeded


@dataclass(frozen=True)
class StartedNode:
    """Where a started node answers, as this machine reaches it."""

    runtime: NodeRuntime
    url: str
    rpc_port: int
    swarm_port: int
    home: Path | None  # on this machine, if it is reachable here
    log_path: Path | None


@dataclass(frozen=True)
class ClusterPlace:
    """What a backend is told about the cluster it hosts."""

    id: str
    spec: ClusterSpec
    directory: Path  # the cluster's own directory on this machine (logs, configs, bind homes)
    run: RunContext
    keep_alive: bool  # the nodes may be kept after pytest exits: they must not die with it


class ProxyFront(Protocol):
    """Traefik and the auth service in front of a cluster (auth="proxy")."""

    @property
    def name(self) -> str:
        """Its Traefik's name in messages (meronodes-<cluster>-traefik)."""
        ...

    @property
    def url(self) -> str:
        """Traefik's entry point on this machine; nodes are told apart by the Host header."""
        ...

    def start(self, slots: Sequence[NodeSlot]) -> None: ...

    def check_alive(self) -> None:
        """Raise ProxyStartError if Traefik or the auth service has exited."""
        ...

    def log_tail(self) -> str: ...

    def stop(self) -> None:
        """Stop and remove everything the proxy holds; safe after a partial start."""
        ...


class HostedCluster(Protocol):
    """What a backend holds for one cluster, and does for each of its nodes."""

    def lay_out(self, names: Sequence[str]) -> list[NodeSlot]:
        """Homes, ports and addresses of the nodes (reserving what must be reserved)."""
        ...

    def proxy_front(self, credentials: Any) -> ProxyFront:
        """The proxy stack for auth="proxy" (not started yet); may raise ConfigurationError."""
        ...

    def init_node(self, slot: NodeSlot, merod_args: list[str], admin_password: str | None,
                  deadline: float) -> InitResult:
        """Run `merod <merod_args>` (an init); with `admin_password`, give it to init the way
        this backend can without argv or the environment, and add the flag saying how."""
        ...

    def start_node(self, slot: NodeSlot, merod_args: list[str], config: dict[str, Any],
                   environment: dict[str, str]) -> StartedNode:
        """Write the node's final config.toml and start `merod <merod_args>` (a run)."""
        ...

    def remove_node(self, slot: NodeSlot) -> None:
        """Remove what the node holds (container, volume); its runtime was stopped and captured."""
        ...

    def network_faults(self) -> NetworkFaults:
        """How this backend cuts, thins or delays the swarm traffic between the nodes."""
        ...

    def close(self) -> None:
        """Release what the cluster holds as a whole (ports, networks)."""
        ...


class NodeLauncher(Protocol):
    """A backend that starts nodes itself: the binary and Docker backends."""

    name: str

    def release(self) -> MerodRelease:
        """The merod release the nodes run (asked once per session)."""
        ...

    def host(self, place: ClusterPlace) -> HostedCluster: ...

    def keep_instructions(self, cluster: Cluster) -> str:
        """How to reach a cluster left running, and how to remove it."""
        ...


class Backend(Protocol):
    """What the cluster factory calls: every backend, including one that starts nothing."""

    name: str

    def start_cluster(self, spec: ClusterSpec, cluster_id: str, *, outlive_session: bool = False) -> Cluster:
        """A ready cluster, or an error after everything half-started was removed. With
        `outlive_session`, its nodes do not die with this process (a cluster to reuse or share)."""
        ...

    def keep_instructions(self, cluster: Cluster) -> str: ...


class BackendKind(Protocol):
    """A backend class, as the registry (backends/__init__.py) knows it."""

    name: str

    def __call__(self, config: MeronodesConfig, run: RunContext) -> Backend | NodeLauncher: ...

    def header(self, config: MeronodesConfig) -> str:
        """What the pytest header says the session runs (never raises)."""
        ...


class EngineResources(Protocol):
    """What a backend leaves outside the run records (containers, networks, volumes in an
    engine), labelled with their owner, for the reaper and `python -m pytest_meronodes ps`."""

    kind: str

    def live_clusters(self) -> set[str]:
        """This user's clusters that still have something running."""
        ...

    def owners(self) -> dict[str, Owner]: ...

    def reap(self, doomed: Callable[[Owner, str], bool]) -> list[str]:
        """Remove what `doomed(owner, cluster id)` condemns; one line per resource."""
        ...

    def describe(self) -> list[str]: ...
