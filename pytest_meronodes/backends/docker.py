"""Nodes in Docker containers, driven with docker-py. Every container, network and volume is
labelled with its run, owner process, cluster and node; ports are published on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import io
import secrets
import shutil
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container

from .. import docker_labels
from ..client import Credentials, NodeClient
from ..cluster import Cluster, ClusterSpec, Node
from ..config import MeronodesConfig
from ..errors import ConfigurationError, NodeStartError
from ..node_config import compose, dump_toml, parse_toml
from ..ownership import current_owner
from ..parallel import run_parallel
from ..readiness import init_timeout_error, start_gates
from ..runs import current_run
from .proxy import SIMULATOR_TITLE, ProxyStack

HOME = "/app/data"
SERVER_PORT = 2528
SWARM_PORT = 2428
ADMIN_USER = "meronodes-admin"
PASSWORD_FILE = ".meronodes-admin-password"  # noqa: S105 - a file name, not a password
STOP_GRACE = 5


def tar_of(name: str, data: bytes, mode: int = 0o600) -> bytes:
    """A tar holding one file (and its parent directories), for put_archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = tarfile.TarInfo("/".join(parts[:depth]))
            directory.type = tarfile.DIRTYPE
            directory.mode = 0o755
            archive.addfile(directory)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.mtime = int(time.time())
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar_single(stream: Any) -> bytes:
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        member = archive.next()
        handle = archive.extractfile(member) if member is not None else None
        if handle is None:
            raise ValueError("empty archive")
        return handle.read()


class ContainerRuntime:
    """Liveness and logs of a node container; both are kept in memory when it is removed."""

    def __init__(self, container: Container, node_dir: str) -> None:
        self.container = container
        self.node_dir = node_dir  # inside the container
        self._final_logs: str | None = None
        self._final_state: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _state(self) -> dict[str, Any]:
        if self._final_state is not None:
            return self._final_state
        try:
            self.container.reload()
        except NotFound:  # removed behind our back: it is not running, whatever its exit code was
            return {"Status": "removed", "ExitCode": -1, "OOMKilled": False}
        state: dict[str, Any] = self.container.attrs.get("State", {})
        return state

    def exit_code(self) -> int | None:
        state = self._state()
        if state.get("Status") in ("exited", "dead", "removed"):
            return int(state.get("ExitCode") or 0)
        return None

    def oom_killed(self) -> bool:
        return bool(self._state().get("OOMKilled"))

    def logs(self) -> str:
        if self._final_logs is not None:
            return self._final_logs
        try:
            return bytes(self.container.logs()).decode("utf-8", errors="replace")
        except (NotFound, APIError):
            return ""

    def stop(self) -> None:
        with contextlib.suppress(NotFound, APIError):
            self.container.stop(timeout=STOP_GRACE)

    def upload(self, local_path: Path) -> str:
        """Copy a file into the node's home (its volume), where the node can read it."""
        member = f"uploads/{local_path.name}"
        self.container.put_archive(self.node_dir, tar_of(member, local_path.read_bytes(), mode=0o644))
        return f"{self.node_dir}/{member}"

    def capture(self) -> None:
        """Save exit state and logs before the container is removed."""
        with self._lock:
            if self._final_logs is None:
                self._final_state = self._state()
                self._final_logs = self.logs()


@dataclass
class DockerNodePlan:
    name: str
    container_name: str
    volume: str
    peer_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    container: Container | None = None
    runtime: ContainerRuntime | None = None
    bind_dir: Path | None = None  # the node's home on the host, with --docker-home=bind

    def mounts(self) -> dict[str, dict[str, str]]:
        source = str(self.bind_dir) if self.bind_dir is not None else self.volume
        return {source: {"bind": HOME, "mode": "rw"}}

    @property
    def multiaddr(self) -> str:
        return f"/dns4/{self.container_name}/tcp/{SWARM_PORT}/p2p/{self.peer_id}"


@dataclass
class DockerCluster:
    """Everything a cluster owns in the engine, for teardown."""

    cluster_dir: Path
    network: Any = None
    plans: list[DockerNodePlan] = field(default_factory=list)
    proxy: ProxyStack | None = None


def describe_image(image: str) -> str:
    """For the pytest header: the image, and whether it is the simulator, from its labels."""
    try:
        client = docker.from_env(timeout=5)
        labels = client.images.get(image).labels or {}
    except ImageNotFound:
        return f"{image} (not present yet: will be pulled)"
    except DockerException as error:
        return f"{image} (Docker engine unreachable: {type(error).__name__})"
    version = labels.get("org.opencontainers.image.version", "version unknown")
    if labels.get("org.opencontainers.image.title") == SIMULATOR_TITLE:
        return f"{image} (the merod SIMULATOR, merod {version})"
    return f"{image} ({version})"


class DockerBackend:
    name = "docker"

    def __init__(self, config: MeronodesConfig, base_dir: Path) -> None:
        self.config = config
        self.base_dir = base_dir
        try:
            self.client = docker.from_env()
            self.client.ping()
        except DockerException as error:
            raise ConfigurationError(
                f"Docker engine unreachable ({error}); start Docker or set DOCKER_HOST, "
                "or use --node-backend=binary"
            ) from None
        self._images_checked: set[str] = set()
        self._image_lock = threading.Lock()

    # -- images ---------------------------------------------------------------------------------
    def ensure_image(self, image: str, option: str) -> None:
        """Pull only when missing (or always with --force-pull); one clear error otherwise."""
        with self._image_lock:
            if image in self._images_checked:
                return
            present = True
            try:
                self.client.images.get(image)
            except ImageNotFound:
                present = False
            if not present or self.config.force_pull:
                try:
                    self.client.images.pull(image)
                except (APIError, DockerException) as error:
                    if not present:
                        raise ConfigurationError(
                            f"Docker image {image} is not present and cannot be pulled ({error}); "
                            f"pull or build it, or set {option} to an image you have"
                        ) from None
            self._images_checked.add(image)

    def image_title(self, image: str) -> str:
        labels = self.client.images.get(image).labels or {}
        return str(labels.get("org.opencontainers.image.title", ""))

    # -- start ----------------------------------------------------------------------------------
    def _labels(self, cluster_id: str, role: str, node: str | None = None) -> dict[str, str]:
        return docker_labels.labels(current_owner(), cluster_id, role, node)

    def start_cluster(self, spec: ClusterSpec, cluster_id: str) -> Cluster:
        self.ensure_image(self.config.merod_image, "--merod-image")
        deadline = time.monotonic() + self.config.startup_timeout
        cluster_dir = self.base_dir / cluster_id
        cluster_dir.mkdir(parents=True, exist_ok=False)
        current_run().add_cluster(cluster_id, cluster_dir)
        owned = DockerCluster(cluster_dir)
        prefix = f"meronodes-{cluster_id}"
        try:
            owned.network = self.client.networks.create(
                f"{prefix}-net", driver="bridge", labels=self._labels(cluster_id, "network")
            )
            bind = self.config.docker_home == "bind"
            owned.plans = [
                DockerNodePlan(name, f"{prefix}-{name}", f"{prefix}-{name}-home",
                               bind_dir=cluster_dir / f"{name}-home" if bind else None)
                for name in spec.names
            ]
            credentials = Credentials(ADMIN_USER, secrets.token_urlsafe(18)) if spec.auth else None
            if spec.auth == "proxy":
                assert credentials is not None
                owned.proxy = ProxyStack(self, cluster_id, prefix, credentials, owned.network)
                owned.proxy.start()
            run_parallel(lambda plan: self._init(plan, spec, cluster_id, credentials, deadline), owned.plans)
            namespace = f"calimero/pytest-meronodes/{cluster_id}"
            for plan, user_path in zip(owned.plans, spec.config_path or [None] * spec.count):
                self._configure(plan, owned.plans, spec, namespace, user_path)
            run_parallel(lambda plan: self._create_and_start(plan, spec, cluster_id, owned), owned.plans)
            nodes = [self._node(plan, credentials, owned) for plan in owned.plans]
            if owned.proxy is not None:
                owned.proxy.wait_routes(nodes, deadline)
            start_gates(nodes, deadline=deadline, timeout=self.config.startup_timeout, check_ready=True,
                        auth=credentials is not None)
        except BaseException:
            self._teardown(owned)
            raise
        return Cluster(cluster_id, nodes, lambda: self._teardown(owned), directory=cluster_dir)

    def _init(
        self,
        plan: DockerNodePlan,
        spec: ClusterSpec,
        cluster_id: str,
        credentials: Credentials | None,
        deadline: float,
    ) -> None:
        if plan.bind_dir is not None:
            plan.bind_dir.mkdir(mode=0o700)
        else:
            self.client.volumes.create(plan.volume, labels=self._labels(cluster_id, "home", plan.name))
        command = [
            "merod", "--home", HOME, "--node", plan.name, "init",
            "--server-host", "0.0.0.0", "--server-port", str(SERVER_PORT),
            "--swarm-host", "0.0.0.0", "--swarm-port", str(SWARM_PORT),
        ]
        if spec.auth == "embedded" and credentials is not None:
            command += ["--auth-mode", "embedded", "--admin-user", credentials.username,
                        "--admin-password-file", f"/{PASSWORD_FILE}"]
        init = self.client.containers.create(
            self.config.merod_image,
            command=command,
            entrypoint="",
            name=f"{plan.container_name}-init",
            user="root",  # as merobox does: the files we put into the home are root's
            volumes=plan.mounts(),
            labels=self._labels(cluster_id, "init", plan.name),
            network_mode="none",
        )
        try:
            if spec.auth == "embedded" and credentials is not None:
                init.put_archive("/", tar_of(PASSWORD_FILE, credentials.password.encode()))
            init.start()
            try:
                result = init.wait(timeout=max(1.0, deadline - time.monotonic()))
            except Exception:  # requests' ReadTimeout: the init did not finish
                raise init_timeout_error(plan.name, self.config.startup_timeout) from None
            output = bytes(init.logs()).decode("utf-8", errors="replace")
            code = int(result.get("StatusCode", -1))
            if code != 0:
                raise NodeStartError(plan.name, "merod init failed", exit_code=code, log_tail=output[-4000:])
            stream, _ = init.get_archive(f"{HOME}/{plan.name}/config.toml")
            text = untar_single(stream).decode("utf-8")
        finally:
            init.remove(force=True)
        plan.config = parse_toml(text)
        plan.peer_id = str(plan.config["identity"]["peer_id"])

    def _configure(
        self, plan: DockerNodePlan, plans: list[DockerNodePlan], spec: ClusterSpec, namespace: str,
        user_path: Path | None,
    ) -> None:
        bootstrap = [other.multiaddr for other in plans if other is not plan]
        plan.config = compose(plan.config, namespace=namespace, bootstrap=bootstrap, user_path=user_path,
                              overrides=spec.config)

    def _create_and_start(self, plan: DockerNodePlan, spec: ClusterSpec, cluster_id: str, owned: DockerCluster) -> None:
        extra: dict[str, Any] = {}
        if self.config.node_memory:
            extra["mem_limit"] = self.config.node_memory
        if self.config.node_cpus:
            extra["nano_cpus"] = int(self.config.node_cpus * 1e9)
        labels = self._labels(cluster_id, "node", plan.name)
        if owned.proxy is not None:
            labels.update(owned.proxy.node_labels(plan.name, plan.container_name))
        container = self.client.containers.create(
            self.config.merod_image,
            command=["merod", "--home", HOME, "--node", plan.name, "run"],
            entrypoint="",
            name=plan.container_name,
            hostname=plan.name,
            user="root",
            environment={"RUST_LOG": spec.log_level, "RUST_BACKTRACE": "1"},
            volumes=plan.mounts(),
            labels=labels,
            network=owned.network.name,
            # loopback only, on an ephemeral host port that Docker picks (None; the stubs lack it)
            ports={f"{SERVER_PORT}/tcp": ("127.0.0.1", None)},  # type: ignore[dict-item]
            **extra,
        )
        plan.container = container
        plan.runtime = ContainerRuntime(container, f"{HOME}/{plan.name}")
        container.put_archive(f"{HOME}/{plan.name}", tar_of("config.toml", dump_toml(plan.config)))
        container.start()

    def _node(self, plan: DockerNodePlan, credentials: Credentials | None, owned: DockerCluster) -> Node:
        assert plan.container is not None
        plan.container.reload()
        bindings = plan.container.attrs["NetworkSettings"]["Ports"].get(f"{SERVER_PORT}/tcp") or []
        if not bindings and plan.runtime is not None and plan.runtime.exit_code() is not None:
            oom = "; killed: out of memory (raise --node-memory)" if plan.runtime.oom_killed() else ""
            raise NodeStartError(plan.name, f"process exited during start{oom}",
                                 exit_code=plan.runtime.exit_code(), log_tail=plan.runtime.logs()[-4000:])
        if not bindings:
            raise NodeStartError(plan.name, "Docker published no port for the node's server",
                                 log_tail=plan.runtime.logs() if plan.runtime else "")
        host_port = int(bindings[0]["HostPort"])
        url = f"http://127.0.0.1:{host_port}"
        client = NodeClient(plan.name, url, credentials)
        if owned.proxy is not None:
            client = owned.proxy.client_for(plan.name, credentials)
        return Node(
            name=plan.name,
            url=client.base_url.rstrip("/") if owned.proxy is not None else url,
            rpc_port=host_port,
            swarm_port=SWARM_PORT,
            peer_id=plan.peer_id,
            multiaddr=plan.multiaddr,
            home=plan.bind_dir / plan.name if plan.bind_dir is not None else None,
            log_path=None,  # the container's own log: Node.logs(), or `docker logs`
            client=client,
            runtime=plan.runtime,
        )

    # -- stop -----------------------------------------------------------------------------------
    def _teardown(self, owned: DockerCluster) -> None:
        def remove_node(plan: DockerNodePlan) -> None:
            if plan.container is not None:
                with contextlib.suppress(NotFound, APIError):
                    plan.container.stop(timeout=STOP_GRACE)
                if plan.runtime is not None:
                    plan.runtime.capture()
                _remove_container(plan.container)
            if plan.bind_dir is not None:
                shutil.rmtree(plan.bind_dir, ignore_errors=True)
                return
            with contextlib.suppress(NotFound, APIError):
                self.client.volumes.get(plan.volume).remove(force=True)

        try:
            run_parallel(remove_node, owned.plans)
        finally:
            if owned.proxy is not None:
                owned.proxy.stop()
            if owned.network is not None:
                with contextlib.suppress(NotFound, APIError):
                    owned.network.remove()
            shutil.rmtree(owned.cluster_dir, ignore_errors=True)  # logs were captured in memory
            current_run().remove_cluster(owned.cluster_dir.name)

    def keep_instructions(self, cluster: Cluster) -> str:
        lines = [f"cluster {cluster.id} left running (Docker):"]
        for node in cluster:
            container = getattr(node.runtime, "container", None)
            logs = f"docker logs {container.name}" if container is not None else ""
            lines.append(f"  {node.name}: {node.url}  log: {logs}")
        lines.append(
            f"  remove with: python -m pytest_meronodes reap --cluster {cluster.id}  "
            f"(or docker rm -f $(docker ps -aq --filter label={docker_labels.CLUSTER}={cluster.id}))"
        )
        return "\n".join(lines)


def _remove_container(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except NotFound:
        pass
    except APIError as error:
        if "already in progress" not in str(error):
            raise
