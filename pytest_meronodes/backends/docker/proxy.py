"""Traefik in front of a Docker cluster, with the auth service behind forward-auth.

Per cluster: a Traefik container (docker provider, socket read-only, no API published) that
routes only this cluster's containers, an auth service container, and an internal network for
the auth service. Traefik's entry port comes from the shared port registry and is published on
127.0.0.1; clients reach a node by sending its host name to that port."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from docker.errors import APIError, NotFound
from docker.models.containers import Container

from ... import proxy_routes
from ...client import Credentials
from ...errors import ProxyStartError
from ...ports import PortRegistry
from ..swarm import NodeSlot
from . import labels as docker_labels
from .engine import SIMULATOR_TITLE, DockerEngine
from .runtime import remove_container

AUTH_PORT = 3001
NODE_PORT = 2528  # merod's server port inside every node container


def _logs(container: Container) -> str:
    return bytes(container.logs(tail=40)).decode("utf-8", errors="replace")


class ProxyStack:
    """Traefik and the auth service as containers of the cluster; a ProxyFront."""

    def __init__(
        self, engine: DockerEngine, cluster_id: str, prefix: str, credentials: Credentials, web_network: Any
    ) -> None:
        self.engine = engine
        self.config = engine.config
        self.client = engine.client
        self.cluster_id = cluster_id
        self.prefix = prefix
        self.credentials = credentials
        self.web_network = web_network
        self.ports = PortRegistry(engine.config.port_range)
        self.port: int | None = None
        self.internal_network: Any = None
        self.auth: Container | None = None
        self.traefik: Container | None = None

    def _labels(self, role: str) -> dict[str, str]:
        return self.engine.labels(self.cluster_id, role)

    @property
    def middleware(self) -> str:
        return f"{self.prefix}-auth"

    def start(self, slots: Sequence[NodeSlot]) -> None:
        """Routes come later, as labels of the node containers (node_labels)."""
        config = self.config
        self.engine.ensure_image(config.traefik_image, "--traefik-image")
        self.engine.ensure_image(config.auth_image, "--auth-image")
        self.internal_network = self.client.networks.create(
            f"{self.prefix}-internal", driver="bridge", internal=True, labels=self._labels("network")
        )
        self._start_auth()
        self._start_traefik()

    def _start_auth(self) -> None:
        config = self.config
        name = f"{self.prefix}-auth"
        labels = self._labels("auth")
        route = proxy_routes.auth_service_route(self.prefix)
        labels.update(proxy_routes.docker_labels([route]))
        labels[f"traefik.http.services.{route.service}.loadbalancer.server.port"] = str(AUTH_PORT)
        middleware = f"traefik.http.middlewares.{self.middleware}.forwardauth"
        labels[f"{middleware}.address"] = f"http://{name}:{AUTH_PORT}/auth/validate"
        labels[f"{middleware}.authResponseHeaders"] = proxy_routes.AUTH_RESPONSE_HEADERS
        extra: dict[str, Any] = {}
        if self.engine.image_title(config.auth_image) == SIMULATOR_TITLE:
            # our test double plays mero-auth; the real image runs its own default command
            extra = {"entrypoint": "", "command": ["merod", "auth", "--listen", f"0.0.0.0:{AUTH_PORT}"]}
        self.auth = self.client.containers.create(
            config.auth_image,
            name=name,
            environment={
                "MERO_AUTH_ADMIN_USER": self.credentials.username,
                "MERO_AUTH_ADMIN_PASSWORD": self.credentials.password,
            },
            labels=labels,
            network=self.web_network.name,
            **extra,
        )
        self.internal_network.connect(self.auth)
        self.auth.start()

    def _start_traefik(self) -> None:
        config = self.config
        self.port = self.ports.allocate(1, self.engine.owner)[0]
        constraint = f"Label(`{docker_labels.CLUSTER}`,`{self.cluster_id}`)"
        self.traefik = self.client.containers.create(
            config.traefik_image,
            name=f"{self.prefix}-traefik",
            command=[
                "--entrypoints.web.address=:80",
                "--providers.docker=true",
                "--providers.docker.exposedbydefault=false",
                f"--providers.docker.network={self.web_network.name}",
                f"--providers.docker.constraints={constraint}",
                "--log.level=INFO",
            ],
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "ro"}},
            labels=self._labels("traefik"),
            network=self.web_network.name,
            ports={"80/tcp": ("127.0.0.1", self.port)},
        )
        self.traefik.start()

    def node_labels(self, node: str) -> dict[str, str]:
        service = f"{self.prefix}-{node}"
        labels = proxy_routes.docker_labels(proxy_routes.node_routes(self.prefix, node, f"{self.middleware}@docker"))
        labels[f"traefik.http.services.{service}.loadbalancer.server.port"] = str(NODE_PORT)
        return labels

    @property
    def name(self) -> str:
        return f"{self.prefix}-traefik"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def check_alive(self) -> None:
        for container, role in ((self.traefik, "traefik"), (self.auth, "auth-service")):
            if container is not None:
                container.reload()
                if container.status == "exited":
                    code = container.attrs.get("State", {}).get("ExitCode")
                    raise ProxyStartError(f"{self.prefix}-{role}", f"{role} exited during start",
                                          exit_code=code, log_tail=_logs(container))

    def log_tail(self) -> str:
        return _logs(self.traefik) if self.traefik else ""

    def stop(self) -> None:
        for container in (self.traefik, self.auth):
            if container is not None:
                with contextlib.suppress(APIError):  # left for the reaper: its labels name this run
                    remove_container(container)
        if self.internal_network is not None:
            with contextlib.suppress(NotFound, APIError):
                self.internal_network.remove()
        if self.port is not None:
            self.ports.release([self.port], self.engine.owner)
