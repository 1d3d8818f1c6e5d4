"""A started cluster, written down for another pytest process (a JSON file, 0600, in a private
directory), and attached to from what was written: how xdist workers share one cluster
(sharing.py) and how a later session picks up a cluster kept for reuse (reuse.py).

An attached cluster is a view: its nodes answer, are watched (a process by pid and start time, a
container through the engine), and have authenticated clients of their own; they cannot be
stopped or faulted from the view, and stopping the view stops nothing."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .client import Credentials, NodeClient
from .cluster import Cluster
from .errors import MeronodesError, NodeAuthError, NodeError, NodeStartError
from .gates import authenticate, wait_for_mesh, wait_until_ready
from .node import Node
from .parallel import run_parallel
from .redact import register
from .runtime import Liveness, NodeRuntime
from .state_dir import write_private
from .versions import MerodRelease

HANDOFF_FILE = "handoff.json"  # in the cluster's directory
ATTACH_WORKERS = 8  # nodes checked at once when attaching


@dataclass(frozen=True)
class NodeEntry:
    name: str
    url: str
    rpc_port: int | None
    swarm_port: int | None
    peer_id: str | None
    multiaddr: str | None
    home: str | None
    log_path: str | None
    host_header: str | None
    runtime: dict[str, Any]


@dataclass(frozen=True)
class ClusterHandoff:
    cluster_id: str
    directory: str | None
    release: str  # merod's --version line
    topology: str
    wiring: dict[str, list[str]]
    username: str | None
    password: str | None
    nodes: tuple[NodeEntry, ...]

    @classmethod
    def of(cls, cluster: Cluster) -> ClusterHandoff:
        entries = []
        credentials: Credentials | None = None
        for node in cluster:
            if node.runtime is None:
                raise MeronodesError(f"cluster {cluster.id} runs elsewhere: there is nothing of it to hand over")
            credentials = node.client.credentials or credentials
            host = node.client.headers.get("Host")
            entries.append(NodeEntry(
                node.name, node.url, node.rpc_port, node.swarm_port, node.peer_id, node.multiaddr,
                str(node.home) if node.home else None, str(node.log_path) if node.log_path else None,
                host if isinstance(host, str) else None, node.runtime.reference(),
            ))
        return cls(
            cluster.id, str(cluster.directory) if cluster.directory else None, cluster.release.text, cluster.topology,
            {name: list(peers) for name, peers in cluster.wiring.items()},
            credentials.username if credentials else None, credentials.password if credentials else None,
            tuple(entries),
        )

    def write(self, path: Path) -> None:
        """0600 (it holds the admin password), whole or not at all."""
        write_private(path, json.dumps(asdict(self)))

    @classmethod
    def read(cls, path: Path) -> ClusterHandoff:
        raw = json.loads(path.read_text())
        raw["nodes"] = tuple(NodeEntry(**entry) for entry in raw["nodes"])
        return cls(**raw)


def reattach_runtime(reference: dict[str, Any]) -> NodeRuntime:
    """The runtime of a node another process started, from its `reference()`."""
    kind = reference.get("kind")
    if kind == "process":
        from .backends.binary.process import ForeignProcess

        return ForeignProcess(int(reference["pid"]), str(reference["started"]), Path(str(reference["log_path"])))
    if kind == "container":
        from .backends.docker.runtime import ContainerRuntime

        return ContainerRuntime.reattach(reference)
    raise MeronodesError(f"a handed-over node of unknown kind {kind!r}")


def attach(handoff: ClusterHandoff, *, uncontrolled: str) -> Cluster:
    """A view of the cluster for this process (no token obtained yet: `check` does that); it can
    be neither stopped nor faulted, for `uncontrolled` reasons."""
    credentials = None
    if handoff.username is not None and handoff.password is not None:
        credentials = Credentials(handoff.username, handoff.password)
        register(credentials.password)  # never shown in a log tail or an error
    nodes = []
    for entry in handoff.nodes:
        runtime = reattach_runtime(entry.runtime)
        liveness = Liveness(entry.name, runtime)
        client = NodeClient(entry.name, entry.url, credentials, host_header=entry.host_header, liveness=liveness)
        nodes.append(Node(
            name=entry.name, url=entry.url, rpc_port=entry.rpc_port, swarm_port=entry.swarm_port,
            peer_id=entry.peer_id, multiaddr=entry.multiaddr, home=Path(entry.home) if entry.home else None,
            log_path=Path(entry.log_path) if entry.log_path else None, client=client, liveness=liveness,
            runtime=runtime, uncontrolled=uncontrolled,
        ))
    directory = Path(handoff.directory) if handoff.directory else None
    return Cluster(handoff.cluster_id, nodes, lambda: None, refuse_stop=uncontrolled, directory=directory,
                   release=MerodRelease.from_version_text(handoff.release), topology=handoff.topology,
                   wiring=handoff.wiring)


def check(cluster: Cluster, timeout: float) -> None:
    """That an attached cluster works: every node alive and healthy, a token for each (with
    auth), and the mesh as wired. NodeStartError (or NodeAuthError) naming the first node that is
    not; a few nodes at a time."""
    deadline = time.monotonic() + timeout

    def healthy(node: Node) -> None:
        node.check_alive()
        wait_until_ready(node, deadline=deadline, timeout=timeout, check_ready=False)
        if node.client.credentials is not None:
            authenticate(node)

    try:
        run_parallel(healthy, list(cluster), limit=ATTACH_WORKERS, fail_fast=True)
    except NodeAuthError:
        raise
    except NodeError as error:
        raise NodeStartError(error.node, error.reason, gate=error.gate or "health", exit_code=error.exit_code,
                             log_tail=error.log_tail) from None
    wanted = {name: len(peers) for name, peers in cluster.wiring.items()}
    wait_for_mesh(cluster.nodes, deadline=deadline, wanted=wanted, topology=cluster.topology)
