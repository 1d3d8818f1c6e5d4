"""Traefik in front of a Docker cluster, with the auth service behind forward-auth.

Per cluster: a Traefik container (docker provider, socket read-only, no API published) that
routes only this cluster's containers, an auth service container, and an internal network for
the auth service. Traefik's entry port comes from the shared port registry and is published on
127.0.0.1; clients reach a node by sending its host name to that port."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from docker.errors import APIError, NotFound

from .. import docker_labels, proxy_routes
from ..client import Credentials, NodeClient
from ..cluster import Node
from ..errors import NodeStartError
from ..ports import PortRegistry
from ..proxy_routes import host_name
from ..readiness import wait_for_proxy

if TYPE_CHECKING:
    from docker.models.containers import Container

    from .docker import DockerBackend

AUTH_PORT = 3001
NODE_PORT = 2528
SIMULATOR_TITLE = "merod-sim"


def _logs(container: Container) -> str:
    return bytes(container.logs(tail=40)).decode("utf-8", errors="replace")


class ProxyStack:
    def __init__(
        self, backend: DockerBackend, cluster_id: str, prefix: str, credentials: Credentials, web_network: Any
    ) -> None:
        self.backend = backend
        self.client = backend.client
        self.cluster_id = cluster_id
        self.prefix = prefix
        self.credentials = credentials
        self.web_network = web_network
        self.ports = PortRegistry(backend.config.port_range)
        self.port: int | None = None
        self.internal_network: Any = None
        self.auth: Container | None = None
        self.traefik: Container | None = None

    def _labels(self, role: str) -> dict[str, str]:
        return self.backend._labels(self.cluster_id, role)

    @property
    def middleware(self) -> str:
        return f"{self.prefix}-auth"

    def start(self) -> None:
        config = self.backend.config
        self.backend.ensure_image(config.traefik_image, "--traefik-image")
        self.backend.ensure_image(config.auth_image, "--auth-image")
        self.internal_network = self.client.networks.create(
            f"{self.prefix}-internal", driver="bridge", internal=True, labels=self._labels("network")
        )
        self._start_auth()
        self._start_traefik()

    def _start_auth(self) -> None:
        config = self.backend.config
        name = f"{self.prefix}-auth"
        labels = self._labels("auth")
        route = proxy_routes.auth_service_route(self.prefix)
        labels.update(proxy_routes.docker_labels([route]))
        labels[f"traefik.http.services.{route.service}.loadbalancer.server.port"] = str(AUTH_PORT)
        middleware = f"traefik.http.middlewares.{self.middleware}.forwardauth"
        labels[f"{middleware}.address"] = f"http://{name}:{AUTH_PORT}/auth/validate"
        labels[f"{middleware}.authResponseHeaders"] = proxy_routes.AUTH_RESPONSE_HEADERS
        extra: dict[str, Any] = {}
        if self.backend.image_title(config.auth_image) == SIMULATOR_TITLE:
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
        config = self.backend.config
        self.port = self.ports.allocate(1)[0]
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

    def node_labels(self, node: str, container_name: str) -> dict[str, str]:
        service = f"{self.prefix}-{node}"
        labels = proxy_routes.docker_labels(proxy_routes.node_routes(self.prefix, node, f"{self.middleware}@docker"))
        labels[f"traefik.http.services.{service}.loadbalancer.server.port"] = str(NODE_PORT)
        return labels

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client_for(self, node: str, credentials: Credentials | None) -> NodeClient:
        return NodeClient(node, self.url, credentials, host_header=host_name(node))

    def wait_routes(self, nodes: list[Node], deadline: float) -> None:
        def check_alive() -> None:
            for container, role in ((self.traefik, "traefik"), (self.auth, "auth service")):
                if container is not None:
                    container.reload()
                    if container.status == "exited":
                        code = container.attrs.get("State", {}).get("ExitCode")
                        raise NodeStartError(f"{self.prefix}-{role}", f"{role} exited", exit_code=code,
                                             log_tail=_logs(container))

        wait_for_proxy(url=self.url, host=host_name(nodes[0].name), deadline=deadline,
                       name=f"{self.prefix}-traefik", check_alive=check_alive,
                       logs=lambda: _logs(self.traefik) if self.traefik else "")

    def stop(self) -> None:
        for container in (self.traefik, self.auth):
            if container is not None:
                with contextlib.suppress(NotFound, APIError):
                    container.remove(force=True, v=True)
        if self.internal_network is not None:
            with contextlib.suppress(NotFound, APIError):
                self.internal_network.remove()
        if self.port is not None:
            self.ports.release([self.port])
