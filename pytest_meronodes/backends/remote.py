"""Nodes that already run elsewhere, named by URL: nothing is started or stopped."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from ..client import Credentials, NodeClient
from ..cluster import Cluster, Node
from ..config import MeronodesConfig
from ..errors import ConfigurationError, NodeAuthError
from ..readiness import authenticate, wait_for_mesh, wait_until_ready
from ..spec import ClusterSpec


class RemoteBackend:
    name = "remote"

    def __init__(self, config: MeronodesConfig) -> None:
        self.config = config
        if not config.node_urls:
            raise ConfigurationError(
                "--node-backend=remote needs node URLs: --node-url URL (repeatable), "
                "MERONODES_NODE_URL (comma separated) or ini node_url (one per line)"
            )

    def start_cluster(self, spec: ClusterSpec, cluster_id: str) -> Cluster:
        urls = self.config.node_urls
        if spec.count > len(urls):
            raise ConfigurationError(
                f"the test asks for {spec.count} nodes but only {len(urls)} remote node URL(s) are "
                f"configured (--node-url)"
            )
        credentials = None
        if self.config.node_username and self.config.node_password:
            credentials = Credentials(self.config.node_username, self.config.node_password)
        elif spec.auth:
            raise ConfigurationError(
                "the test asks for auth but no remote credentials are set: --node-username and "
                "MERONODES_NODE_PASSWORD"
            )
        nodes = []
        for name, url in zip(spec.names, urls):
            port = urlsplit(url).port
            nodes.append(
                Node(name=name, url=url, rpc_port=port, swarm_port=None, peer_id=None, multiaddr=None,
                     home=None, log_path=None, client=NodeClient(name, url, credentials))
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
                    f"auth gate: {node.url} refused the credentials of user {self.config.node_username!r} "
                    f"({error.reason.removeprefix('auth gate: ')}); check --node-username and the password "
                    f"(MERONODES_NODE_PASSWORD, or --node-password)",
                ) from None
        wait_for_mesh(nodes, timeout=max(0.1, deadline - time.monotonic()))
        return Cluster(cluster_id, nodes, lambda: None)

    def keep_instructions(self, cluster: Cluster) -> str:
        return f"cluster {cluster.id}: remote nodes, never started or stopped by pytest-meronodes"
