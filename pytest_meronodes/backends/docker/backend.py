"""Nodes in Docker containers, driven with docker-py. Every container, network and volume is
labelled with its run, owner process, cluster and node; ports are published on 127.0.0.1 only.

Containers run the image as the real merod image is laid out: its ENTRYPOINT (`merod`), its user
(uid 10001), the node home in /data. merod's swarm cannot dial DNS names, so each cluster gets a
network on a subnet the plugin takes from Docker's own pool, every node a fixed address on it,
and bootstrap peers are `/ip4/<address>/tcp/2428/p2p/<peer id>`, known before the first start."""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container

from ...client import Credentials
from ...cluster import Cluster
from ...config import MeronodesConfig
from ...errors import FaultUnavailableError, NodeStartError
from ...node_config import dump_toml
from ...ports import PortRegistry
from ...redact import redact
from ...run_context import RunContext
from ...versions import MerodRelease
from ..base import ClusterPlace, InitResult, StartedNode
from ..swarm import NodeSlot
from . import labels as docker_labels
from .engine import DockerEngine, describe_image
from .files import FileOwner, tar_of, untar_single
from .firewall import Firewall
from .network import create_network
from .proxy import NODE_PORT, ProxyStack
from .reaping import DockerResources
from .runtime import HOME, ContainerRuntime, remove_container

SWARM_PORT = 2428
PASSWORD_FILE = ".meronodes-admin-password"  # noqa: S105 - a file name, not a password


class DockerBackend:
    name = "docker"

    def __init__(self, config: MeronodesConfig, run: RunContext) -> None:
        self.config = config
        self.run = run
        self.engine = DockerEngine(config, run.owner)

    @staticmethod
    def header(config: MeronodesConfig) -> str:
        return f"merod image: {describe_image(config.merod_image)}"

    @staticmethod
    def engine_resources() -> DockerResources | None:
        return DockerResources.if_reachable()

    def release(self) -> MerodRelease:
        self.engine.ensure_image(self.config.merod_image, "--merod-image")
        return self.engine.image_facts(self.config.merod_image).release

    def host(self, place: ClusterPlace) -> ContainerCluster:
        return ContainerCluster(self, place)

    def keep_instructions(self, cluster: Cluster) -> str:
        lines = [f"cluster {cluster.id} left running (Docker; files in {cluster.directory}):"]
        for node in cluster:
            lines.append(f"  {node.name}: {node.url}  {node.runtime.describe() if node.runtime else ''}")
        lines.append(
            f"  remove with: python -m pytest_meronodes reap --cluster {cluster.id}  "
            f"(or docker rm -f $(docker ps -aq --filter label={docker_labels.CLUSTER}={cluster.id}))"
        )
        return "\n".join(lines)


@dataclass
class ContainerPlan:
    """A node's container, volume (or bind-mounted home) and what init left for the start."""

    container_name: str
    volume: str
    owner: FileOwner  # who merod runs as, and who owns the files we put
    bind_dir: Path | None  # the node's home on the host, with --docker-home=bind
    host_port: int  # where its server is published on 127.0.0.1
    config_header: tarfile.TarInfo | None = None  # init's config.toml: owner and mode to keep
    container: Container | None = None

    def mounts(self) -> dict[str, dict[str, str]]:
        source = str(self.bind_dir) if self.bind_dir is not None else self.volume
        return {source: {"bind": HOME, "mode": "rw"}}

    @property
    def user(self) -> str:
        return f"{self.owner.uid}:{self.owner.gid}"


class ContainerCluster:
    """One cluster's network, volumes and containers."""

    def __init__(self, backend: DockerBackend, place: ClusterPlace) -> None:
        self.backend = backend
        self.engine = backend.engine
        self.config = backend.config
        self.place = place
        self.prefix = f"meronodes-{place.id}"
        self.network: Any = None
        self.ports = PortRegistry(self.config.port_range)
        self.host_ports: list[int] = []  # published on 127.0.0.1: fixed, so a restarted node keeps its port
        self.plans: dict[str, ContainerPlan] = {}
        self.front: ProxyStack | None = None

    def _labels(self, role: str, node: str | None = None) -> dict[str, str]:
        return self.engine.labels(self.place.id, role, node)

    def lay_out(self, names: Sequence[str]) -> list[NodeSlot]:
        self.network, addresses = create_network(self.engine.client, f"{self.prefix}-net", self._labels("network"),
                                                 len(names))
        bind = self.config.docker_home == "bind"
        # bind-mounted homes belong to whoever runs pytest, so the node runs as them there
        owner = FileOwner(os.getuid(), os.getgid()) if bind else \
            self.engine.image_facts(self.config.merod_image).owner
        self.host_ports = self.ports.allocate(len(names), self.place.run.owner)
        for name, host_port in zip(names, self.host_ports):
            self.plans[name] = ContainerPlan(f"{self.prefix}-{name}", f"{self.prefix}-{name}-home", owner,
                                             self.place.directory / f"{name}-home" if bind else None, host_port)
        return [NodeSlot(name, HOME, "0.0.0.0", NODE_PORT, SWARM_PORT, address)
                for name, address in zip(names, addresses)]

    def proxy_front(self, credentials: Credentials) -> ProxyStack:
        self.front = ProxyStack(self.engine, self.place.id, self.prefix, credentials, self.network)
        return self.front

    def init_node(self, slot: NodeSlot, merod_args: list[str], admin_password: str | None,
                  deadline: float) -> InitResult:
        plan = self.plans[slot.name]
        if plan.bind_dir is not None:
            plan.bind_dir.mkdir(mode=0o700)
        else:
            self.engine.client.volumes.create(plan.volume, labels=self._labels("home", slot.name))
        if admin_password is not None:
            merod_args = [*merod_args, "--admin-password-file", f"/{PASSWORD_FILE}"]
        # the image's ENTRYPOINT is merod: these are its arguments
        init = self.engine.client.containers.create(
            self.config.merod_image, command=merod_args, name=f"{plan.container_name}-init", user=plan.user,
            volumes=plan.mounts(), labels=self._labels("init", slot.name), network_mode="none",
        )
        try:
            if admin_password is not None:
                # readable by merod's user alone; never in the environment or argv
                _put_password(init, admin_password, plan.owner, slot.name)
            return self._run_init(init, slot, plan, deadline)
        finally:
            remove_container(init)

    @staticmethod
    def _run_init(init: Container, slot: NodeSlot, plan: ContainerPlan, deadline: float) -> InitResult:
        failure = ""
        try:
            init.start()
            try:
                result = init.wait(timeout=max(1.0, deadline - time.monotonic()))
            except (requests.ReadTimeout, requests.ConnectionError):  # the init did not finish in time
                return InitResult(None, "")
            output = bytes(init.logs()).decode("utf-8", errors="replace")
            code = int(result.get("StatusCode", -1))
            if code != 0:
                return InitResult(code, output)
            stream, _ = init.get_archive(f"{HOME}/{slot.name}/config.toml")
            data, plan.config_header = untar_single(stream)
            return InitResult(0, output, data.decode("utf-8"))
        except DockerException as error:  # the engine's failure, not merod's: say so
            failure = redact(str(error))
        raise NodeStartError(slot.name, f"Docker could not run merod init: {failure}", gate="init")

    def start_node(self, slot: NodeSlot, merod_args: list[str], config: dict[str, Any],
                   environment: dict[str, str]) -> StartedNode:
        plan = self.plans[slot.name]
        extra: dict[str, Any] = {}
        if self.config.node_memory:
            extra["mem_limit"] = self.config.node_memory
        if self.config.node_cpus:
            extra["nano_cpus"] = int(self.config.node_cpus * 1e9)
        node_labels = self._labels("node", slot.name)
        if self.front is not None:
            node_labels.update(self.front.node_labels(slot.name))
        network = self.network.name
        plan.container = container = self.engine.client.containers.create(
            self.config.merod_image, command=merod_args, name=plan.container_name, hostname=slot.name,
            user=plan.user, environment=environment, volumes=plan.mounts(), labels=node_labels, network=network,
            networking_config={network: self.engine.client.api.create_endpoint_config(ipv4_address=slot.swarm_address)},
            # loopback only, on a port of the shared registry
            ports={f"{NODE_PORT}/tcp": ("127.0.0.1", plan.host_port)},
            **extra,
        )
        runtime = ContainerRuntime(container, f"{HOME}/{slot.name}", plan.owner)
        header = plan.config_header
        owner = FileOwner(header.uid, header.gid) if header is not None else plan.owner
        mode = header.mode if header is not None else 0o600
        container.put_archive(f"{HOME}/{slot.name}", tar_of("config.toml", dump_toml(config), mode, owner))
        container.start()
        return StartedNode(runtime, f"http://127.0.0.1:{plan.host_port}", plan.host_port, SWARM_PORT,
                           home=plan.bind_dir / slot.name if plan.bind_dir is not None else None,
                           log_path=None)  # the container's own log: Node.logs(), or `docker logs`

    def remove_node(self, slot: NodeSlot) -> None:
        plan = self.plans.get(slot.name)
        if plan is None:
            return
        if plan.container is not None:
            remove_container(plan.container)
        if plan.bind_dir is not None:
            shutil.rmtree(plan.bind_dir, ignore_errors=True)
            return
        with contextlib.suppress(NotFound, APIError):
            self.engine.client.volumes.get(plan.volume).remove(force=True)

    def network_faults(self) -> ContainerNetworkFaults:
        return ContainerNetworkFaults(Firewall(self.place.run.owner, self.place.id), self.plans)

    def close(self) -> None:
        try:
            if self.network is not None:
                with contextlib.suppress(NotFound, APIError):
                    self.network.remove()
        finally:
            if self.host_ports:
                self.ports.release(self.host_ports, self.place.run.owner)
                self.host_ports = []


class ContainerNetworkFaults:
    """Cuts and loss by iptables rules on the host, delay by netem in the node's namespace."""

    def __init__(self, firewall: Firewall, plans: dict[str, ContainerPlan]) -> None:
        self.firewall = firewall
        self.plans = plans

    def cut(self, a: NodeSlot, b: NodeSlot) -> None:
        self.firewall.cut(a.swarm_address, b.swarm_address, (self._pid(a), self._pid(b)))

    def _pid(self, slot: NodeSlot) -> int | None:
        """The node's process on the host, while its container runs (0 when it does not)."""
        container = self.plans[slot.name].container
        if container is None:
            return None
        with contextlib.suppress(NotFound, APIError):
            container.reload()
            return int(container.attrs["State"]["Pid"]) or None
        return None

    def mend(self, a: NodeSlot, b: NodeSlot) -> None:
        self.firewall.mend(a.swarm_address, b.swarm_address)

    def slow_down(self, slot: NodeSlot, *, delay_ms: int, jitter_ms: int, loss_percent: float) -> None:
        if loss_percent:
            self.firewall.thin(slot.swarm_address, loss_percent)
        if delay_ms or jitter_ms:
            pid = self._pid(slot)
            if pid is None:
                raise FaultUnavailableError(f"{slot.name} is not running: there is no traffic of it to delay")
            self.firewall.delay(slot.swarm_address, pid, delay_ms, jitter_ms)

    def restore(self, slot: NodeSlot) -> None:
        self.firewall.restore(slot.swarm_address)

    def clear(self) -> None:
        self.firewall.clear()


def _put_password(container: Container, password: str, owner: FileOwner, name: str) -> None:
    """The admin password as a file readable by merod's user alone. A failure is reported
    without docker-py's frames, whose locals would show the archive and the password in it."""
    failure = ""
    try:
        container.put_archive("/", tar_of(PASSWORD_FILE, password.encode(), 0o400, owner))
    except DockerException as error:
        failure = redact(str(error))
    if failure:
        raise NodeStartError(name, f"could not give merod init its admin password file: {failure}", gate="init")
