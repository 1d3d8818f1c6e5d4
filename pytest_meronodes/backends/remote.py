"""Nodes that already run elsewhere, named by URL: nothing is started or stopped."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from ..client import Credentials, NodeClient
from ..cluster import Cluster
from ..config import MeronodesConfig
from ..errors import ConfigurationError, NodeAuthError
from ..gates import authenticate, wait_for_mesh, wait_until_ready
from ..node import Node
from ..redact import register
from ..run_context import RunContext
from ..runtime import Liveness
from ..spec import ClusterSpec


class RemoteBackend:
    """Attaches to running nodes: the same gates as a start (health, auth, mesh), no start path."""

    name = "remote"

    def __init__(self, config: MeronodesConfig, run: RunContext) -> None:
        self.config = config
        if not config.node_urls:
            raise ConfigurationError(
                "--node-backend=remote needs node URLs: --node-url URL (repeatable), "
                "MERONODES_NODE_URL (comma separated) or ini node_url (one per line)"
            )

    def start_cluster(self, spec: ClusterSpec, cluster_id: str, *, outlive_session: bool = False) -> Cluster:
        urls = self.config.node_urls
        if spec.count > len(urls):
            raise ConfigurationError(
                f"the test asks for {spec.count} nodes but only {len(urls)} remote node URL(s) are "
                f"configured (--node-url)"
            )
        credentials = None
        if self.config.node_username and self.config.node_password:
            credentials = Credentials(self.config.node_username, self.config.node_password)
            register(credentials.password)  # never shown in a log tail or an error
        elif spec.auth:
            raise ConfigurationError(
                "the test asks for auth but no remote credentials are set: --node-username and "
                "MERONODES_NODE_PASSWORD"
            )
        nodes = []
        for name, url in zip(spec.names, urls):
            liveness = Liveness(name, None)  # not ours to watch: a request's failure is just that
            nodes.append(
                Node(name=name, url=url, rpc_port=urlsplit(url).port, swarm_port=None, peer_id=None, multiaddr=None,
                     home=None, log_path=None, client=NodeClient(name, url, credentials, liveness=liveness),
                     liveness=liveness)
            )
        deadline = time.monotonic() + self.config.startup_timeout
        for node in nodes:
            try:
                wait_until_ready(node, deadline=deadline, timeout=self.config.startup_timeout, check_ready=False)
                if credentials is not None:
                    authenticate(node)
            except NodeAuthError as error:
                raise NodeAuthError(
                    node.name,
                    f"{node.url} refused the credentials of user {self.config.node_username!r} "
                    f"({error.reason}); check --node-username and the password "
                    f"(MERONODES_NODE_PASSWORD, or --node-password)",
                    gate="auth",
                ) from None
        wanted = {name: len(spec.wired_peers(name)) for name in spec.names}
        wait_for_mesh(nodes, deadline=max(deadline, time.monotonic() + 0.1), wanted=wanted, topology=spec.topology)
        return Cluster(cluster_id, nodes, lambda: None, topology=spec.topology,
                       wiring={name: spec.wired_peers(name) for name in spec.names})

    @staticmethod
    def header(config: MeronodesConfig) -> str:
        return f"nodes: {', '.join(config.node_urls) or 'none configured'}"

    def keep_instructions(self, cluster: Cluster) -> str:
        return f"cluster {cluster.id}: remote nodes, never started or stopped by pytest-meronodes"
