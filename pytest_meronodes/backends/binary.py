"""Native merod processes (or the simulator) on this machine, on ports from the shared registry."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client import Credentials, NodeClient
from ..cluster import Cluster, Node
from ..config import MeronodesConfig
from ..errors import NodeStartError
from ..merod_program import resolve
from ..node_config import compose, read_toml, write_toml
from ..parallel import run_parallel
from ..ports import PortRegistry
from ..process import NodeProcess
from ..readiness import init_timeout_error, start_gates
from ..redact import SecretText
from ..runs import current_run, process_marker
from ..spec import ClusterSpec
from ..versions import Feature, MerodRelease
from .native_proxy import NativeProxy

ADMIN_USER = "meronodes-admin"
STOP_GRACE = 5.0


@dataclass
class NodePlan:
    name: str
    server_port: int
    swarm_port: int
    home: Path  # merod's --home; the node's directory is home/name
    log_path: Path
    peer_id: str = ""
    generated: dict[str, Any] = field(default_factory=dict)  # the config init wrote, read once
    process: NodeProcess | None = None

    @property
    def node_dir(self) -> Path:
        return self.home / self.name

    @property
    def multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.swarm_port}/p2p/{self.peer_id}"


class BinaryBackend:
    name = "binary"

    def __init__(self, config: MeronodesConfig, base_dir: Path) -> None:
        self.config = config
        self.base_dir = base_dir
        self.program = resolve(config.merod_binary)
        self.release = MerodRelease.from_version_text(self.program.version())
        self.ports = PortRegistry(config.port_range)

    # -- start ----------------------------------------------------------------------------------
    def _merod(self, plan: NodePlan, *args: str) -> list[str]:
        node_flag = "--node" if self.release.has(Feature.NODE_FLAG) else "--node-name"
        return [*self.program.command, "--home", str(plan.home), node_flag, plan.name, *args]

    def _env(self, spec: ClusterSpec) -> dict[str, str]:
        # our own settings (a remote password among them) are none of the node's business
        env = {k: v for k, v in os.environ.items() if not k.startswith("MERONODES_")}
        env["RUST_LOG"] = spec.log_level
        env["RUST_BACKTRACE"] = "1"
        return env

    def start_cluster(self, spec: ClusterSpec, cluster_id: str) -> Cluster:
        if spec.auth == "embedded":
            self.release.require(Feature.ADMIN_AT_INIT, 'auth="embedded" (the admin passed to merod init)')
        deadline = time.monotonic() + self.config.startup_timeout
        run = current_run()
        cluster_dir = run.create_cluster_dir(self.base_dir, cluster_id)
        # nodes that may be kept after pytest exits must not die with it
        die_with_parent = not (self.config.keep_nodes or self.config.keep_nodes_on_failure)
        # a pipe from this process, closed only when it exits: process-wide, unlike the
        # parent-death signal (which only the spawner thread makes process-wide)
        lifeline = die_with_parent and self.release.has(Feature.EXIT_ON_EOF)
        run_args = ["run", "--exit-on-eof", "0"] if lifeline else ["run"]
        ports: list[int] = []
        plans: list[NodePlan] = []
        proxy: NativeProxy | None = None
        try:
            ports = self.ports.allocate(2 * spec.count)
            plans = [
                NodePlan(name, ports[2 * i], ports[2 * i + 1], cluster_dir, cluster_dir / f"{name}.log")
                for i, name in enumerate(spec.names)
            ]
            credentials = Credentials(ADMIN_USER, secrets.token_urlsafe(18)) if spec.auth else None
            env = self._env(spec)
            # every process of the cluster (nodes, Traefik, auth service) carries it: proof for a later
            # reaper that the process is this run's
            marker_name, marker_value = process_marker(cluster_id)
            env[marker_name] = marker_value
            if spec.auth == "proxy":
                assert credentials is not None
                # built first: a missing Traefik binary fails before any node starts
                proxy = NativeProxy(
                    cluster_id=cluster_id, directory=cluster_dir, credentials=credentials,
                    traefik_binary=self.config.traefik_binary, auth_service=self.config.auth_service,
                    ports=self.ports, env=env,
                )
            run_parallel(lambda plan: self._init(plan, spec, credentials, deadline), plans)
            namespace = f"calimero/pytest-meronodes/{cluster_id}"
            for plan, user_config_path in zip(plans, spec.config_path or [None] * len(plans)):
                self._configure(plan, plans, spec, namespace, user_config_path)
            for plan in plans:
                plan.process = NodeProcess(
                    self._merod(plan, *run_args), log_path=plan.log_path, env=env, die_with_parent=die_with_parent,
                    lifeline=lifeline,
                )
                plan.process.start()
                run.add_process(cluster_id, plan.process.pid or 0, f"node {plan.name}")
            if proxy is not None:
                proxy.start({plan.name: plan.server_port for plan in plans}, die_with_parent=die_with_parent)
                for process in proxy.processes():
                    run.add_process(cluster_id, process.pid or 0, process.log_path.stem)
                proxy.wait_ready(plans[0].name, deadline)
            nodes = [self._node(plan, credentials, proxy) for plan in plans]
            start_gates(nodes, deadline=deadline, timeout=self.config.startup_timeout,
                        check_ready=self.release.has(Feature.READY_ENDPOINT), auth=credentials is not None)
        except BaseException:
            self._teardown(plans, ports, cluster_dir, proxy)
            raise
        return Cluster(
            cluster_id, nodes, lambda: self._teardown(plans, ports, cluster_dir, proxy), directory=cluster_dir,
            release=self.release,
        )

    def _init(self, plan: NodePlan, spec: ClusterSpec, credentials: Credentials | None, deadline: float) -> None:
        args = [
            "init",
            "--server-host", "127.0.0.1",
            "--server-port", str(plan.server_port),
            "--swarm-host", "127.0.0.1",
            "--swarm-port", str(plan.swarm_port),
        ]
        stdin = None
        if spec.auth == "embedded" and credentials is not None:
            # the password travels on stdin: never in argv, the environment or a file
            args += ["--auth-mode", "embedded", "--admin-user", credentials.username, "--admin-password-stdin"]
            stdin = SecretText(credentials.password + "\n")  # hidden from tracebacks' locals
        try:
            completed = subprocess.run(
                self._merod(plan, *args), input=stdin, capture_output=True, text=True,
                env=self._env(spec), timeout=max(1.0, deadline - time.monotonic()), check=False,
            )
        except subprocess.TimeoutExpired:
            raise init_timeout_error(plan.name, self.config.startup_timeout) from None
        plan.log_path.write_text(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            raise NodeStartError(
                plan.name, "merod init failed", exit_code=completed.returncode,
                log_tail=(completed.stdout + completed.stderr)[-4000:],
            )
        plan.generated = read_toml(plan.node_dir / "config.toml", what=f"config written by init for {plan.name}")
        plan.peer_id = str(plan.generated["identity"]["peer_id"])

    def _configure(
        self, plan: NodePlan, plans: list[NodePlan], spec: ClusterSpec, namespace: str, user_path: Path | None
    ) -> None:
        config_path = plan.node_dir / "config.toml"
        bootstrap = [other.multiaddr for other in plans if other is not plan]
        final = compose(plan.generated, namespace=namespace, bootstrap=bootstrap, user_path=user_path,
                        overrides=spec.config)
        write_toml(config_path, final)

    def _node(self, plan: NodePlan, credentials: Credentials | None, proxy: NativeProxy | None) -> Node:
        url = f"http://127.0.0.1:{plan.server_port}"
        client = proxy.client_for(plan.name) if proxy else NodeClient(plan.name, url, credentials)
        return Node(
            name=plan.name,
            url=proxy.url if proxy else url,
            rpc_port=plan.server_port,
            swarm_port=plan.swarm_port,
            peer_id=plan.peer_id,
            multiaddr=plan.multiaddr,
            home=plan.node_dir,
            log_path=plan.log_path,
            client=client,
            runtime=plan.process,
        )

    # -- stop -----------------------------------------------------------------------------------
    def _teardown(self, plans: list[NodePlan], ports: list[int], cluster_dir: Path, proxy: NativeProxy | None) -> None:
        processes = [plan.process for plan in plans if plan.process is not None]
        if proxy is not None:
            processes += proxy.processes()
        try:
            for process in processes:
                process.terminate()
            deadline = time.monotonic() + STOP_GRACE
            run_parallel(lambda process: process.wait_or_kill(deadline), processes)
        finally:  # even if stopping was interrupted: release and remove what we hold
            if ports:
                self.ports.release(ports)
            if proxy is not None:
                proxy.release()
            for process in processes:
                process.capture_logs()
            shutil.rmtree(cluster_dir, ignore_errors=True)
            current_run().remove_cluster(cluster_dir.name)

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
