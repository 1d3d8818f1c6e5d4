"""Native merod processes (or the simulator) on this machine, on ports from the shared registry."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...client import Credentials
from ...cluster import Cluster
from ...config import MeronodesConfig
from ...errors import MeronodesError
from ...merod_program import resolve
from ...node_config import write_toml
from ...ports import PortRegistry
from ...redact import SecretText
from ...run_context import RunContext
from ...versions import Feature, MerodRelease
from ..base import ClusterPlace, InitResult, StartedNode
from ..swarm import NodeSlot, NoNetworkFaults
from .process import NodeProcess
from .proxy import NativeProxy

HOST = "127.0.0.1"


class BinaryBackend:
    name = "binary"

    def __init__(self, config: MeronodesConfig, run: RunContext) -> None:
        self.config = config
        self.run = run
        self.program = resolve(config.merod_binary)
        self._release = MerodRelease.from_version_text(self.program.version())
        self.ports = PortRegistry(config.port_range)

    @staticmethod
    def header(config: MeronodesConfig) -> str:
        try:
            program = resolve(config.merod_binary)
            kind = "the merod SIMULATOR" if program.is_simulator else "merod"
            return f"{kind}: {program.describe()} ({program.version()})"
        except MeronodesError as error:
            return f"merod unavailable: {error}"

    def release(self) -> MerodRelease:
        return self._release

    def host(self, place: ClusterPlace) -> NativeCluster:
        return NativeCluster(self, place)

    def keep_instructions(self, cluster: Cluster) -> str:
        # the directory is the plugin's own (nothing rotates it) until `reap --cluster` removes it
        lines = [f"cluster {cluster.id} left running (files in {cluster.directory}):"]
        pids = []
        for node in cluster:
            process = node.runtime
            pid = process.pid if isinstance(process, NodeProcess) else None
            if pid:
                pids.append(str(pid))
            lines.append(f"  {node.name}: {node.url} pid={pid} home={node.home} log={node.log_path}")
        lines.append(f"  remove with: python -m pytest_meronodes reap --cluster {cluster.id}")
        lines.append(f"           or: kill {' '.join(pids)}")
        return "\n".join(lines)


class NativeCluster:
    """One cluster's processes and ports; every node's home is a directory of the cluster's."""

    def __init__(self, backend: BinaryBackend, place: ClusterPlace) -> None:
        self.backend = backend
        self.place = place
        self.ports: list[int] = []
        # nodes that may be kept after pytest exits must not die with it
        self.die_with_parent = not place.keep_alive
        # a pipe from this process, closed only when it exits: process-wide, unlike the
        # parent-death signal (which only the spawner thread makes process-wide)
        self.lifeline = self.die_with_parent and backend.release().has(Feature.EXIT_ON_EOF)
        self.environment = self._environment()

    def _environment(self) -> dict[str, str]:
        # our own settings (a remote password among them) are none of the node's business
        env = {k: v for k, v in os.environ.items() if not k.startswith("MERONODES_")}
        # every process of the cluster (nodes, Traefik, auth service) carries it: proof for a later
        # reaper that the process is this run's
        name, value = self.place.run.process_marker(self.place.id)
        env[name] = value
        return env

    def _merod(self, merod_args: list[str]) -> list[str]:
        return [*self.backend.program.command, *merod_args]

    def lay_out(self, names: Sequence[str]) -> list[NodeSlot]:
        self.ports = self.backend.ports.allocate(2 * len(names), self.place.run.owner)
        return [
            NodeSlot(name, str(self.place.directory), HOST, self.ports[2 * i], self.ports[2 * i + 1], HOST)
            for i, name in enumerate(names)
        ]

    def proxy_front(self, credentials: Credentials) -> NativeProxy:
        config = self.backend.config
        return NativeProxy(place=self.place, credentials=credentials, traefik_binary=config.traefik_binary,
                           auth_service=config.auth_service, ports=self.backend.ports, env=self.environment,
                           die_with_parent=self.die_with_parent)

    def _log_path(self, slot: NodeSlot) -> Path:
        return self.place.directory / f"{slot.name}.log"

    def init_node(self, slot: NodeSlot, merod_args: list[str], admin_password: str | None,
                  deadline: float) -> InitResult:
        stdin = None
        if admin_password is not None:
            # the password travels on stdin: never in argv, the environment or a file
            merod_args = [*merod_args, "--admin-password-stdin"]
            stdin = SecretText(admin_password + "\n")  # hidden from tracebacks' locals
        try:
            completed = subprocess.run(
                self._merod(merod_args), input=stdin, capture_output=True, text=True,
                env={**self.environment, "RUST_LOG": self.place.spec.log_level},
                timeout=max(1.0, deadline - time.monotonic()), check=False,
            )
        except subprocess.TimeoutExpired:
            return InitResult(None, "")
        output = completed.stdout + completed.stderr
        self._log_path(slot).write_text(output)
        config_path = self.place.directory / slot.name / "config.toml"
        config_text = config_path.read_text() if completed.returncode == 0 and config_path.is_file() else ""
        return InitResult(completed.returncode, output, config_text)

    def start_node(self, slot: NodeSlot, merod_args: list[str], config: dict[str, Any],
                   environment: dict[str, str]) -> StartedNode:
        write_toml(self.place.directory / slot.name / "config.toml", config)
        run_args = [*merod_args, "--exit-on-eof", "0"] if self.lifeline else merod_args
        registry = self.place.run.registry
        process = NodeProcess(self._merod(run_args), log_path=self._log_path(slot),
                              env={**self.environment, **environment}, die_with_parent=self.die_with_parent,
                              lifeline=self.lifeline,
                              on_start=lambda pid: registry.add_process(self.place.id, pid, f"node {slot.name}"))
        process.start()
        return StartedNode(process, f"http://{HOST}:{slot.server_port}", slot.server_port, slot.swarm_port,
                           home=self.place.directory / slot.name, log_path=self._log_path(slot))

    def remove_node(self, slot: NodeSlot) -> None:
        """Nothing of its own: its home is in the cluster's directory, removed last."""

    def network_faults(self) -> NoNetworkFaults:
        return NoNetworkFaults(
            "network faults (disconnect, partition, slow_down) need --node-backend=docker: native nodes share this "
            "machine's loopback, where one node's swarm traffic cannot be told apart from another's (stop, kill and "
            "pause work on every backend)"
        )

    def close(self) -> None:
        if self.ports:
            self.backend.ports.release(self.ports, self.place.run.owner)
            self.ports = []
