"""The one start path: every backend that starts nodes starts a cluster through ClusterStart,
which does the steps in order and removes everything on any error (Ctrl-C included):

  cluster directory + run record -> the backend lays out homes/ports/addresses -> proxy front
  (auth="proxy") -> `merod init` on every node in parallel -> config.toml composed per node
  (E2E defaults, bootstrap peers, user file, overrides) -> `merod run` on every node -> gates
  (proxy, health, ready, auth, mesh) -> a Cluster whose stop() undoes it all.

The backend (a NodeLauncher and the HostedCluster it returns) does only what differs."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends.base import ADMIN_USER, ClusterPlace, HostedCluster, NodeLauncher, ProxyFront, StartedNode
from .backends.swarm import NodeSlot
from .client import Credentials, NodeClient
from .cluster import Cluster
from .config import MeronodesConfig
from .control import ClusterControl, GateSettings
from .errors import MeronodesError, NodeAuthError, NodeStartError
from .gates import init_timeout_error, start_gates, wait_for_proxy, wait_until_ready, with_all_tails
from .node import Node
from .node_config import compose, parse_toml
from .parallel import machine_parallelism, run_parallel
from .polling import Abandoned
from .proxy_routes import host_name
from .redact import SecretText, register
from .run_context import RunContext
from .runtime import Liveness
from .spec import ClusterSpec
from .versions import Feature, MerodRelease


def merod_args(release: MerodRelease, slot: NodeSlot, *args: str) -> list[str]:
    """merod's arguments for one node: its home and name (the flag's name depends on the release)."""
    node_flag = "--node" if release.has(Feature.NODE_FLAG) else "--node-name"
    return ["--home", slot.home, node_flag, slot.name, *args]


def init_args(slot: NodeSlot, credentials: Credentials | None, embedded: bool) -> list[str]:
    args = [
        "init",
        "--server-host", slot.listen_host, "--server-port", str(slot.server_port),
        "--swarm-host", slot.listen_host, "--swarm-port", str(slot.swarm_port),
    ]
    if embedded and credentials is not None:
        args += ["--auth-mode", "embedded", "--admin-user", credentials.username]
    return args


@dataclass
class _Started:
    """What a cluster's start has made so far: what its teardown undoes."""

    hosted: HostedCluster | None = None
    slots: list[NodeSlot] = field(default_factory=list)
    nodes: dict[str, StartedNode] = field(default_factory=dict)
    front: ProxyFront | None = None
    control: ClusterControl | None = None


class ClusterStart:
    """Starts clusters for one session through one NodeLauncher."""

    def __init__(self, launcher: NodeLauncher, config: MeronodesConfig, run: RunContext) -> None:
        self.launcher = launcher
        self.config = config
        self.run = run
        self.name = launcher.name

    def keep_instructions(self, cluster: Cluster) -> str:
        return self.launcher.keep_instructions(cluster)

    def start_cluster(self, spec: ClusterSpec, cluster_id: str, *, outlive_session: bool = False) -> Cluster:
        release = self.launcher.release()
        if spec.auth == "embedded":
            release.require(Feature.ADMIN_AT_INIT, 'auth="embedded" (the admin passed to merod init)')
        deadline = time.monotonic() + self.config.startup_timeout
        directory = self.run.registry.create_cluster_dir(self.run.clusters_dir, cluster_id)
        keep_alive = outlive_session or self.config.keep_nodes or self.config.keep_nodes_on_failure
        started = _Started()
        try:
            started.hosted = self.launcher.host(ClusterPlace(cluster_id, spec, directory, self.run, keep_alive))
            nodes = self._start(spec, cluster_id, release, deadline, started)
        except BaseException:
            self._teardown(started, cluster_id, directory)
            raise
        return Cluster(cluster_id, nodes, lambda: self._teardown(started, cluster_id, directory),
                       directory=directory, release=release, topology=spec.topology,
                       wiring={name: spec.wired_peers(name) for name in spec.names})

    def _start(
        self, spec: ClusterSpec, cluster_id: str, release: MerodRelease, deadline: float, started: _Started
    ) -> list[Node]:
        hosted = started.hosted
        assert hosted is not None
        started.slots = slots = hosted.lay_out(spec.names)
        credentials = None
        if spec.auth:
            credentials = Credentials(ADMIN_USER, secrets.token_urlsafe(18))
            register(credentials.password)  # never shown in a log tail or an error
        if spec.auth == "proxy":
            started.front = hosted.proxy_front(credentials)
            started.front.start(slots)
        embedded = spec.auth == "embedded"

        def init(slot: NodeSlot) -> dict[str, Any]:
            # a SecretText: its repr (`pytest -l` prints frame locals) hides it
            password = SecretText(credentials.password) if embedded and credentials is not None else None
            result = hosted.init_node(slot, merod_args(release, slot, *init_args(slot, credentials, embedded)),
                                      password, deadline)
            if result.exit_code is None:
                raise init_timeout_error(slot.name, self.config.startup_timeout)
            if result.exit_code != 0:
                raise NodeStartError(slot.name, "merod init failed", gate="init", exit_code=result.exit_code,
                                     log_tail=result.output[-4000:])
            generated = parse_toml(result.config_text)
            slot.peer_id = str(generated["identity"]["peer_id"])
            return generated

        generated = dict(zip(spec.names, run_parallel(init, slots, limit=machine_parallelism(), fail_fast=True)))
        namespace = f"calimero/pytest-meronodes/{cluster_id}"
        by_name = {slot.name: slot for slot in slots}
        user_paths: tuple[Path | None, ...] = spec.config_path or (None,) * len(slots)
        configs = {
            slot.name: compose(generated[slot.name], namespace=namespace, user_path=user_path, overrides=spec.config,
                               bootstrap=[by_name[peer].multiaddr for peer in spec.wired_peers(slot.name)])
            for slot, user_path in zip(slots, user_paths)
        }
        environment = {"RUST_LOG": spec.log_level, "RUST_BACKTRACE": "1"}

        started.control = control = ClusterControl(
            hosted.network_faults(),
            GateSettings(self.config.startup_timeout, release.has(Feature.READY_ENDPOINT), credentials is not None),
            by_name,
            {name: set(spec.wired_peers(name)) for name in spec.names},
        )
        made: dict[str, Node] = {}
        failed = threading.Event()

        def start(slot: NodeSlot) -> Node:
            try:
                started.nodes[slot.name] = hosted.start_node(slot, merod_args(release, slot, "run"),
                                                             configs[slot.name], dict(environment))
            except BaseException:
                failed.set()  # the nodes already up need not be waited for: this error is the report
                raise
            made[slot.name] = node = self._node(slot, started.nodes[slot.name], credentials, started.front, control)
            if started.front is None:
                # back-pressure: the next node starts once this one answers (a few at a time), so a
                # hundred nodes take turns at the CPUs instead of starving each other
                with contextlib.suppress(Abandoned):
                    wait_until_ready(node, deadline=deadline, timeout=self.config.startup_timeout, check_ready=False,
                                     give_up=failed.is_set)
            return node

        try:
            nodes = run_parallel(start, slots, limit=machine_parallelism(), fail_fast=True)
        except (NodeStartError, NodeAuthError) as error:
            raise with_all_tails(error, list(made.values())) from None
        if started.front is not None:
            wait_for_proxy(started.front, host=host_name(slots[0].name), deadline=deadline)
        control.nodes = list(nodes)
        start_gates(nodes, deadline=deadline, timeout=self.config.startup_timeout,
                    check_ready=release.has(Feature.READY_ENDPOINT), auth=credentials is not None,
                    wanted={name: len(spec.wired_peers(name)) for name in spec.names}, topology=spec.topology)
        return nodes

    @staticmethod
    def _node(slot: NodeSlot, started: StartedNode, credentials: Credentials | None, front: ProxyFront | None,
              control: ClusterControl) -> Node:
        liveness = Liveness(slot.name, started.runtime)
        if front is not None:  # through Traefik, which routes by the Host header
            client = NodeClient(slot.name, front.url, credentials, host_header=host_name(slot.name), liveness=liveness)
        else:
            client = NodeClient(slot.name, started.url, credentials, liveness=liveness)
        return Node(
            name=slot.name,
            url=front.url if front is not None else started.url,
            rpc_port=started.rpc_port,
            swarm_port=started.swarm_port,
            peer_id=slot.peer_id,
            multiaddr=slot.multiaddr,
            home=started.home,
            log_path=started.log_path,
            client=client,
            liveness=liveness,
            runtime=started.runtime,
            control=control,
        )

    def _teardown(self, started: _Started, cluster_id: str, directory: Path) -> None:
        """Stop every node (in parallel), then the proxy, then what the cluster holds as a whole;
        whatever fails or is interrupted, the rest is still released and removed."""
        hosted = started.hosted
        if started.control is not None:
            try:
                started.control.undo()  # faults first: a paused node takes no SIGTERM
            except MeronodesError as error:  # the nodes are removed anyway; the rules say so below
                warnings.warn(f"pytest-meronodes: undoing the faults of cluster {cluster_id} failed: {error}",
                              stacklevel=1)

        def remove(slot: NodeSlot) -> None:
            node = started.nodes.get(slot.name)
            try:
                if node is not None:
                    node.runtime.end()
            finally:
                if node is not None:
                    node.runtime.capture()  # the report of a test that stopped its cluster shows the log
                if hosted is not None:
                    hosted.remove_node(slot)

        try:
            run_parallel(remove, started.slots)
        finally:
            try:
                if started.front is not None:
                    started.front.stop()
            finally:
                try:
                    if hosted is not None:
                        hosted.close()
                finally:
                    shutil.rmtree(directory, ignore_errors=True)
                    self.run.registry.remove_cluster(cluster_id)
