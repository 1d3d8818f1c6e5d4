"""Nodes in Docker containers, driven with docker-py. Every container, network and volume is
labelled with its run, owner process, cluster and node; ports are published on 127.0.0.1 only.

Containers run the image as the real merod image is laid out: its ENTRYPOINT (`merod`), its user
(uid 10001), the node home in /data. merod's swarm cannot dial DNS names, so each cluster gets a
network on a subnet the plugin takes from Docker's own pool, every node a fixed address on it,
and bootstrap peers are `/ip4/<address>/tcp/2428/p2p/<peer id>`, known before the first start."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import os
import secrets
import shutil
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import IPAMConfig, IPAMPool

from .. import docker_labels
from ..client import Credentials, NodeClient
from ..cluster import Cluster, Node
from ..config import MeronodesConfig
from ..errors import ConfigurationError, NodeStartError
from ..node_config import compose, dump_toml, parse_toml
from ..ownership import current_owner
from ..parallel import run_parallel
from ..readiness import init_timeout_error, start_gates
from ..redact import redact
from ..runs import current_run
from ..spec import ClusterSpec
from ..versions import Feature, MerodRelease
from .proxy import SIMULATOR_TITLE, ProxyStack

HOME = "/data"  # the real image's CALIMERO_HOME, WORKDIR and VOLUME
SERVER_PORT = 2528
SWARM_PORT = 2428
ADMIN_USER = "meronodes-admin"
PASSWORD_FILE = ".meronodes-admin-password"  # noqa: S105 - a file name, not a password
STOP_GRACE = 5


@dataclass(frozen=True)
class FileOwner:
    """Who files we put into a container belong to: the user merod runs as there."""

    uid: int = 0
    gid: int = 0


def tar_of(name: str, data: bytes, mode: int = 0o600, owner: FileOwner = FileOwner()) -> bytes:
    """A tar holding one file (and its parent directories), for put_archive, which keeps the
    owner the tar names: merod runs unprivileged and must be able to read what we put."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = tarfile.TarInfo("/".join(parts[:depth]))
            directory.type = tarfile.DIRTYPE
            directory.mode = 0o755
            directory.uid, directory.gid = owner.uid, owner.gid
            archive.addfile(directory)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = mode
        info.uid, info.gid = owner.uid, owner.gid
        info.mtime = int(time.time())
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def untar_single(stream: Any) -> tuple[bytes, tarfile.TarInfo]:
    """The one file of a get_archive stream, and its tar header (owner, mode)."""
    raw = b"".join(stream)
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        member = archive.next()
        handle = archive.extractfile(member) if member is not None else None
        if handle is None or member is None:
            raise ValueError("empty archive")
        return handle.read(), member


def passwd_entry(passwd: str, user: str) -> tuple[int, int] | None:
    """(uid, gid) of a user, by name or uid, in an /etc/passwd text."""
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and user in (fields[0], fields[2]) and fields[2].isdigit() and fields[3].isdigit():
            return int(fields[2]), int(fields[3])
    return None


def group_id(group: str, groups: str) -> int | None:
    """The gid of a group, by name or number, in an /etc/group text."""
    if group.isdigit():
        return int(group)
    for line in groups.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == group and fields[2].isdigit():
            return int(fields[2])
    return None


@dataclass(frozen=True)
class ImageFacts:
    """What the backend needs to know of the merod image, read once per session."""

    owner: FileOwner  # the image's USER, numerically
    release: MerodRelease


class ContainerRuntime:
    """Liveness and logs of a node container; both are kept in memory when it is removed."""

    def __init__(self, container: Container, node_dir: str, owner: FileOwner) -> None:
        self.container = container
        self.node_dir = node_dir  # inside the container
        self.owner = owner
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

    def log_tail(self, lines: int) -> str:
        """The last lines only: a failed test's report must not fetch a whole container log."""
        if self._final_logs is not None:
            return "\n".join(self._final_logs.splitlines()[-lines:])
        try:
            return bytes(self.container.logs(tail=lines)).decode("utf-8", errors="replace")
        except (NotFound, APIError):
            return ""

    def stop(self) -> None:
        with contextlib.suppress(NotFound, APIError):
            self.container.stop(timeout=STOP_GRACE)

    def upload(self, local_path: Path) -> str:
        """Copy a file into the node's home volume, where the node can read it, at the same path
        in every container: merod's application id depends on the path it installs from, and the
        nodes of a namespace must agree on it."""
        member = f"meronodes-uploads/{local_path.name}"
        self.container.put_archive(HOME, tar_of(member, local_path.read_bytes(), 0o644, self.owner))
        return f"{HOME}/{member}"

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
    address: str  # fixed, on the cluster network: what the other nodes dial
    owner: FileOwner
    peer_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    config_header: tarfile.TarInfo | None = None  # init's config.toml: owner and mode to keep
    container: Container | None = None
    runtime: ContainerRuntime | None = None
    bind_dir: Path | None = None  # the node's home on the host, with --docker-home=bind

    def mounts(self) -> dict[str, dict[str, str]]:
        source = str(self.bind_dir) if self.bind_dir is not None else self.volume
        return {source: {"bind": HOME, "mode": "rw"}}

    @property
    def node_dir(self) -> str:
        return f"{HOME}/{self.name}"

    @property
    def user(self) -> str:
        return f"{self.owner.uid}:{self.owner.gid}"

    @property
    def multiaddr(self) -> str:
        # an IP address: merod's swarm has no DNS transport and never dials a /dns4 name
        return f"/ip4/{self.address}/tcp/{SWARM_PORT}/p2p/{self.peer_id}"


@dataclass
class DockerCluster:
    """Everything a cluster owns in the engine, for teardown."""

    cluster_dir: Path
    network: Any = None
    plans: list[DockerNodePlan] = field(default_factory=list)
    proxy: ProxyStack | None = None


def node_addresses(subnet: str, count: int) -> tuple[list[str], str]:
    """Fixed addresses for `count` nodes from the lower half of the subnet (after the gateway),
    and the upper half, left to Docker for everything else on the network (Traefik, auth)."""
    network = ipaddress.ip_network(subnet)
    lower, upper = network.subnets(prefixlen_diff=1)
    hosts = [str(lower.network_address + offset) for offset in range(2, 2 + count)]
    if count > lower.num_addresses - 3:
        raise ConfigurationError(f"a cluster of {count} nodes does not fit Docker's network {subnet}")
    return hosts, str(upper)


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
        self._facts: dict[str, ImageFacts] = {}

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

    def image_facts(self, image: str) -> ImageFacts:
        """The image's user (numeric: files we put must be its) and merod release, read once."""
        with self._image_lock:
            if image not in self._facts:
                self._facts[image] = self._read_image_facts(image)
            return self._facts[image]

    def _read_image_facts(self, image: str) -> ImageFacts:
        config = self.client.images.get(image).attrs.get("Config") or {}
        entrypoint = [str(part) for part in config.get("Entrypoint") or []]
        if not any(PurePosixPath(part).name == "merod" for part in entrypoint):
            raise ConfigurationError(
                f"Docker image {image} has ENTRYPOINT {entrypoint or 'none'}; pytest-meronodes runs merod through "
                f"the image's ENTRYPOINT, as ghcr.io/calimero-network/merod is built (ENTRYPOINT [\"merod\"]): "
                f"build yours the same way, or set --merod-image to such an image"
            )
        probe = self.client.containers.create(image, command=["--version"], network_mode="none",
                                              labels=docker_labels.labels(current_owner(), "image-probe", "probe"))
        try:
            owner = self._owner_in(probe, str(config.get("User") or ""))
            probe.start()
            probe.wait(timeout=60)
            output = bytes(probe.logs()).decode("utf-8", errors="replace").strip()
        finally:
            _remove_container(probe)
        first_line = (output.splitlines() or [""])[0]
        if not first_line.startswith("merod"):
            raise ConfigurationError(
                f"Docker image {image}: `merod --version` printed {first_line!r}, not a merod version; "
                f"set --merod-image to a merod image\n--- what it printed ---\n{output[-2000:]}"
            )
        return ImageFacts(owner, MerodRelease.from_version_text(first_line))

    @staticmethod
    def _owner_in(container: Container, user: str) -> FileOwner:
        """USER as numbers: a name is looked up in the image's /etc/passwd and /etc/group."""
        name, _, group = user.partition(":")
        if not name:
            return FileOwner()

        def read(path: str) -> str:
            try:
                stream, _ = container.get_archive(path)
                return untar_single(stream)[0].decode("utf-8", errors="replace")
            except (NotFound, APIError, ValueError):
                return ""

        entry = passwd_entry(read("/etc/passwd"), name) if not (name.isdigit() and group.isdigit()) else None
        uid = int(name) if name.isdigit() else (entry[0] if entry else None)
        gid = group_id(group, read("/etc/group")) if group else (entry[1] if entry else 0)
        if uid is None or gid is None:
            raise ConfigurationError(f"the image's USER {user!r} is not in its /etc/passwd")
        return FileOwner(uid, gid)

    def _create_network(self, name: str, cluster_id: str, count: int) -> tuple[Any, list[str]]:
        """A bridge network on a subnet Docker itself offers as free (taken from a throwaway
        network), so nodes can have fixed addresses. A concurrent session may take the same
        subnet first: then try another."""
        labels = self._labels(cluster_id, "network")
        for _ in range(5):
            probe = self.client.networks.create(f"{name}-probe", driver="bridge", labels=labels)
            try:
                probe.reload()
                pools = [pool for pool in probe.attrs["IPAM"]["Config"] if ":" not in pool.get("Subnet", ":")]
            finally:
                with contextlib.suppress(NotFound):
                    probe.remove()  # an error here is raised: the subnet would stay taken
            if not pools:
                raise NodeStartError(name, "Docker gave the cluster network no IPv4 subnet; merod's nodes need "
                                           "IPv4 addresses to dial each other (check the daemon's address pools)")
            subnet, gateway = pools[0]["Subnet"], pools[0].get("Gateway")
            addresses, dynamic = node_addresses(subnet, count)
            ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=subnet, iprange=dynamic, gateway=gateway)])
            try:
                network = self.client.networks.create(name, driver="bridge", ipam=ipam, labels=labels)
            except APIError as error:
                if "overlap" in str(error).lower():
                    continue
                raise
            return network, addresses
        raise NodeStartError(name, "could not get a free subnet from Docker for the cluster network (5 tries)")

    # -- start ----------------------------------------------------------------------------------
    def _node_flag(self) -> str:
        release = self.image_facts(self.config.merod_image).release
        return "--node" if release.has(Feature.NODE_FLAG) else "--node-name"

    def _labels(self, cluster_id: str, role: str, node: str | None = None) -> dict[str, str]:
        return docker_labels.labels(current_owner(), cluster_id, role, node)

    def start_cluster(self, spec: ClusterSpec, cluster_id: str) -> Cluster:
        self.ensure_image(self.config.merod_image, "--merod-image")
        facts = self.image_facts(self.config.merod_image)
        if spec.auth == "embedded":
            facts.release.require(Feature.ADMIN_AT_INIT, 'auth="embedded" (the admin passed to merod init)')
        deadline = time.monotonic() + self.config.startup_timeout
        cluster_dir = current_run().create_cluster_dir(self.base_dir, cluster_id)
        owned = DockerCluster(cluster_dir)
        prefix = f"meronodes-{cluster_id}"
        try:
            owned.network, addresses = self._create_network(f"{prefix}-net", cluster_id, spec.count)
            bind = self.config.docker_home == "bind"
            # bind-mounted homes belong to whoever runs pytest, so the node runs as them there
            owner = FileOwner(os.getuid(), os.getgid()) if bind else facts.owner
            owned.plans = [
                DockerNodePlan(name, f"{prefix}-{name}", f"{prefix}-{name}-home", address, owner,
                               bind_dir=cluster_dir / f"{name}-home" if bind else None)
                for name, address in zip(spec.names, addresses)
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
            start_gates(nodes, deadline=deadline, timeout=self.config.startup_timeout,
                        check_ready=facts.release.has(Feature.READY_ENDPOINT), auth=credentials is not None)
        except BaseException:
            self._teardown(owned)
            raise
        return Cluster(cluster_id, nodes, lambda: self._teardown(owned), directory=cluster_dir,
                       release=facts.release)

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
        # the image's ENTRYPOINT is merod: these are its arguments
        command = [
            "--home", HOME, self._node_flag(), plan.name, "init",
            "--server-host", "0.0.0.0", "--server-port", str(SERVER_PORT),
            "--swarm-host", "0.0.0.0", "--swarm-port", str(SWARM_PORT),
        ]
        if spec.auth == "embedded" and credentials is not None:
            command += ["--auth-mode", "embedded", "--admin-user", credentials.username,
                        "--admin-password-file", f"/{PASSWORD_FILE}"]
        init = self.client.containers.create(
            self.config.merod_image,
            command=command,
            name=f"{plan.container_name}-init",
            user=plan.user,
            volumes=plan.mounts(),
            labels=self._labels(cluster_id, "init", plan.name),
            network_mode="none",
        )
        try:
            if spec.auth == "embedded" and credentials is not None:
                # readable by merod's user alone; never in the environment or argv
                self._put_password(init, credentials, plan)
            init.start()
            try:
                result = init.wait(timeout=max(1.0, deadline - time.monotonic()))
            except Exception:  # requests' ReadTimeout: the init did not finish
                raise init_timeout_error(plan.name, self.config.startup_timeout) from None
            output = bytes(init.logs()).decode("utf-8", errors="replace")
            code = int(result.get("StatusCode", -1))
            if code != 0:
                raise NodeStartError(plan.name, "merod init failed", exit_code=code, log_tail=output[-4000:])
            stream, _ = init.get_archive(f"{plan.node_dir}/config.toml")
            data, plan.config_header = untar_single(stream)
        finally:
            init.remove(force=True)
        plan.config = parse_toml(data.decode("utf-8"))
        plan.peer_id = str(plan.config["identity"]["peer_id"])

    @staticmethod
    def _put_password(container: Container, credentials: Credentials, plan: DockerNodePlan) -> None:
        """The admin password as a file readable by merod's user alone. A failure is reported
        without docker-py's frames, whose locals would show the archive and the password in it."""
        failure = ""
        try:
            container.put_archive("/", tar_of(PASSWORD_FILE, credentials.password.encode(), 0o400, plan.owner))
        except DockerException as error:
            failure = redact(str(error))
        if failure:
            raise NodeStartError(plan.name, f"could not give merod init its admin password file: {failure}")

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
        network = owned.network.name
        container = self.client.containers.create(
            self.config.merod_image,
            command=["--home", HOME, self._node_flag(), plan.name, "run"],
            name=plan.container_name,
            hostname=plan.name,
            user=plan.user,
            environment={"RUST_LOG": spec.log_level, "RUST_BACKTRACE": "1"},
            volumes=plan.mounts(),
            labels=labels,
            network=network,
            networking_config={network: self.client.api.create_endpoint_config(ipv4_address=plan.address)},
            # loopback only, on an ephemeral host port that Docker picks (None; the stubs lack it)
            ports={f"{SERVER_PORT}/tcp": ("127.0.0.1", None)},  # type: ignore[dict-item]
            **extra,
        )
        plan.container = container
        plan.runtime = ContainerRuntime(container, plan.node_dir, plan.owner)
        header = plan.config_header
        owner = FileOwner(header.uid, header.gid) if header is not None else plan.owner
        mode = header.mode if header is not None else 0o600
        container.put_archive(plan.node_dir, tar_of("config.toml", dump_toml(plan.config), mode, owner))
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
        lines = [f"cluster {cluster.id} left running (Docker; files in {cluster.directory}):"]
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
